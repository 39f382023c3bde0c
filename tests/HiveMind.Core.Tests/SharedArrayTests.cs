using HiveMind.Memory;

namespace HiveMind.Core.Tests;

public sealed class SharedArrayTests
{
    private static readonly HeapOptions Small = new() { PageSize = 4096, HeapSize = 64 * 4096 };

    [Fact]
    public void Indexer_ReadsAndWritesThroughHeap()
    {
        using var heap = new SharedHeap(Small);
        var xs = new SharedArray<int>(heap, 8192, 5000);
        for (var i = 0; i < xs.Count; i++)
        {
            xs[i] = i * 3;
        }

        for (var i = 0; i < xs.Count; i++)
        {
            Assert.True(heap.Read<int>(8192 + (i * 4L)) == i * 3, $"element {i} at 0x{8192 + (i * 4):X}");
        }

        xs[7] += 1;
        Assert.Equal(22, xs[7]);
        Assert.Equal(8192 + (7 * 4), xs.AddressOf(7));
    }

    [Fact]
    public void Spans_SeeTheSameElements()
    {
        using var heap = new SharedHeap(Small);
        var xs = new SharedArray<long>(heap, 4096, 2000);
        xs.AsSpan(10, 100).Fill(-5);
        Assert.Equal(-5, xs[10]);
        Assert.Equal(-5, xs[109]);
        Assert.Equal(0, xs[110]);
        Assert.Equal(100 * -5, xs.AsReadOnlySpan(0, 2000).ToArray().Sum());
    }

    [Fact]
    public void OddSizedElements_CrossPagesSafely()
    {
        using var heap = new SharedHeap(Small);
        var xs = new SharedArray<Triple>(heap, 4090, 10);
        xs[0] = new Triple(1, 2, 3); // bytes 4090..4101 straddle pages 0 and 1
        Assert.Equal(new Triple(1, 2, 3), xs[0]);
        Assert.Equal(PageAccess.ReadWrite, heap.GetAccess(1));
    }

    /// <summary>A view of more elements than an int counts: long indices, long slice starts, and fast windows over parts of it.</summary>
    [Fact]
    public void LargeView_OfMoreThanIntMaxValueElements_IsIndexedWithLongs()
    {
        using var heap = new SharedHeap(new HeapOptions { PageSize = 4096, HeapSize = 8L << 30 });
        const long Elements = 3L << 30; // 6 GiB of shorts
        var xs = new SharedLargeArray<short>(heap, 4096, Elements);
        const long Far = (1L << 31) + 12345;
        xs[Far] = 4242;
        xs[Elements - 1] = -7;
        Assert.True(xs[Far] == 4242, $"element {Far} at 0x{xs.AddressOf(Far):X} reads {xs[Far]}, not 4242");
        Assert.True(heap.Read<short>(4096 + (2 * Far)) == 4242, $"the heap at 0x{4096 + (2 * Far):X} does not hold element {Far}");
        Assert.True(xs.AddressOf(Far) == 4096 + (2 * Far), $"element {Far} is at 0x{xs.AddressOf(Far):X}");
        Assert.True(xs.Count == Elements, $"Count is {xs.Count}, not {Elements}");
        var slice = xs.AsReadOnlySpan(Elements - 4, 4);
        Assert.True(slice[3] == -7 && slice[0] == 0, $"the last 4 elements read [{string.Join(", ", slice.ToArray())}]");
        var window = xs.Window(Far - 1, 3);
        Assert.True(window[1] == 4242 && window.Address == xs.AddressOf(Far - 1), $"a window from element {Far - 1} reads {window[1]} at its element 1, at 0x{window.Address:X}");

        Assert.Throws<IndexOutOfRangeException>(() => xs[Elements]);
        Assert.Throws<IndexOutOfRangeException>(() => xs[-1]);
        Assert.Throws<IndexOutOfRangeException>(() => xs[long.MinValue] = 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => xs.AsSpan(Elements - 3, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => xs.AsSpan(-1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => xs.Window(Elements - 1, 2));
        Assert.Throws<SharedAddressException>(() => new SharedLargeArray<short>(heap, 4096, 4L << 30));
    }

    [Fact]
    public void BadUse_Throws()
    {
        using var heap = new SharedHeap(Small);
        var xs = new SharedArray<int>(heap, 0, 10);
        Assert.Throws<IndexOutOfRangeException>(() => xs[10]);
        Assert.Throws<IndexOutOfRangeException>(() => xs[-1] = 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => xs.AsSpan(5, 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => xs.AsReadOnlySpan(-1, 2));
        Assert.Throws<SharedAddressException>(() => new SharedArray<int>(heap, heap.Size - 8, 3));
        Assert.Throws<SharedAddressException>(() => new SharedArray<int>(heap, -4, 3));
        var misaligned = Assert.Throws<ArgumentException>(() => new SharedArray<long>(heap, 12, 3));
        Assert.Contains("aligned to 8 bytes", misaligned.Message, StringComparison.Ordinal);
    }

    private readonly record struct Triple(int A, int B, int C);
}
