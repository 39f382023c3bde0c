using System.Runtime.InteropServices;
using HiveMind.Core.Tests.Consistency;
using HiveMind.Memory;

namespace HiveMind.Core.Tests;

/// <summary>
/// Elements larger than the 4 KiB state granule, and access after the heap is gone: no public API may reach memory
/// outside the heap or write a page without the fault that makes its twin.
/// </summary>
public sealed class LargeElementTests
{
    private static readonly HeapOptions Small = new() { PageSize = 4096, HeapSize = 16 * 4096 };

    [Fact]
    public void Read_LargeStructPastHeapEnd_Throws()
    {
        using var heap = new SharedHeap(Small);
        var address = Small.HeapSize - 4096; // the struct's second half would lie past the heap
        var error = Assert.Throws<SharedAddressException>(() => heap.Read<Block8K>(address));
        Assert.Contains($"0x{address:X}", error.Message, StringComparison.Ordinal);
        Assert.Throws<SharedAddressException>(() => heap.Write(address, default(Block8K)));
    }

    [Fact]
    public void Write_LargeStructOverReadOnlyPage_ReachesTheOtherDrone()
    {
        // Page 1 writable already, page 2 read-only: the 8 KiB write must fault page 2 too, or its bytes never make a diff.
        const long Address = 4096;
        using var cluster = new InMemoryCluster(2);
        cluster.Run(id =>
        {
            var heap = cluster.Heaps[id];
            if (id == 0)
            {
                heap.Write(Address, 1L);
                heap.Write(Address, Block8K.Filled(7));
            }

            cluster.Engines[id].Barrier(0);
            var seen = heap.Read<Block8K>(Address);
            var bad = seen.FirstDifference(Block8K.Filled(7));
            Assert.True(bad < 0, $"drone {id} reads byte {bad} of the 8 KiB struct at 0x{Address + bad:X} as {(bad < 0 ? 0 : seen.ByteAt(bad))}, drone 0 wrote 7");
        });
    }

    [Fact]
    public void SharedArray_LargeElements_FaultEveryPageTheyCover()
    {
        const long Address = 4096;
        using var cluster = new InMemoryCluster(2);
        cluster.Run(id =>
        {
            var xs = new SharedArray<Block8K>(cluster.Heaps[id], Address, 3);
            if (id == 1)
            {
                cluster.Heaps[id].Write(Address, 1L); // each element's first page writable, its second read-only
                cluster.Heaps[id].Write(Address + 8192, 1L);
                cluster.Heaps[id].Write(Address + 16384, 1L);
                xs[0] = Block8K.Filled(1);
                xs[1] = Block8K.Filled(2);
                xs[2] = Block8K.Filled(3);
            }

            cluster.Engines[id].Barrier(0);
            for (var i = 0; i < 3; i++)
            {
                var bad = xs[i].FirstDifference(Block8K.Filled((byte)(i + 1)));
                Assert.True(bad < 0, $"drone {id} reads byte {bad} of element {i} (0x{xs.AddressOf(i) + bad:X}) wrong, drone 1 wrote {i + 1}");
            }
        });
    }

    [Fact]
    public void AfterDispose_ReadsWritesAndViews_ThrowObjectDisposed()
    {
        var heap = new SharedHeap(Small);
        var xs = new SharedArray<int>(heap, 4096, 1024);
        var big = new SharedArray<Block8K>(heap, 0, 2);
        xs[5] = 1;
        heap.Dispose();
        Assert.Throws<ObjectDisposedException>(() => heap.Read<int>(8));
        Assert.Throws<ObjectDisposedException>(() => heap.Write(8, 1));
        Assert.Throws<ObjectDisposedException>(() => xs[5]);
        Assert.Throws<ObjectDisposedException>(() => xs[6] = 2);
        Assert.Throws<ObjectDisposedException>(() => big[0]);
        Assert.Throws<ObjectDisposedException>(() => xs.AsReadOnlySpan(0, 4).Length);
        Assert.Throws<ObjectDisposedException>(() => xs.AsSpan(0, 4).Length);
        heap.Dispose(); // twice is harmless
    }

    /// <summary>An 8 KiB value type: twice the state granule.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 8192)]
    private struct Block8K
    {
        private byte _first;

        public static Block8K Filled(byte value)
        {
            var block = default(Block8K);
            MemoryMarshal.CreateSpan(ref block._first, 8192).Fill(value);
            return block;
        }

        public readonly int FirstDifference(Block8K other)
        {
            var mine = MemoryMarshal.CreateReadOnlySpan(in _first, 8192);
            var theirs = MemoryMarshal.CreateReadOnlySpan(in other._first, 8192);
            var common = mine.CommonPrefixLength(theirs);
            return common == 8192 ? -1 : common;
        }

        public readonly byte ByteAt(int index) => MemoryMarshal.CreateReadOnlySpan(in _first, 8192)[index];
    }
}
