using HiveMind.Diffs;
using HiveMind.Memory;

namespace HiveMind.Core.Tests;

public sealed unsafe class SharedHeapTests
{
    private static readonly HeapOptions Small = new() { PageSize = 4096, HeapSize = 64 * 4096 };

    [Fact]
    public void ReadWrite_EveryWidth_RoundTrips()
    {
        using var heap = new SharedHeap(Small);
        heap.Write<byte>(1, 0xAB);
        heap.Write<short>(2, -2);
        heap.Write(4, 123456789);
        heap.Write(8, long.MinValue);
        heap.Write(16, Math.PI);
        heap.Write(24, new Guid("8d5e7f6a-1b2c-4d3e-9f80-112233445566"));
        Assert.Equal(0xAB, heap.Read<byte>(1));
        Assert.Equal(-2, heap.Read<short>(2));
        Assert.Equal(123456789, heap.Read<int>(4));
        Assert.Equal(long.MinValue, heap.Read<long>(8));
        Assert.Equal(Math.PI, heap.Read<double>(16));
        Assert.Equal(new Guid("8d5e7f6a-1b2c-4d3e-9f80-112233445566"), heap.Read<Guid>(24));
    }

    [Fact]
    public void NewHeap_AllPagesReadableAndZero()
    {
        using var heap = new SharedHeap(Small);
        for (var page = 0; page < heap.PageCount; page++)
        {
            Assert.True(heap.GetAccess(page) == PageAccess.ReadOnly, $"page {page} starts {heap.GetAccess(page)}");
            Assert.True(heap.Read<long>(heap.PageAddress(page) + 8) == 0, $"page {page} does not start zero");
        }

        Assert.Equal(0, heap.ReadFaults);
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(-4096L)]
    [InlineData(long.MinValue)]
    [InlineData(64 * 4096L)]
    [InlineData((64 * 4096L) - 3)] // an int that would cross the heap end
    [InlineData(long.MaxValue)]
    public void Access_OutsideHeap_ThrowsAndNamesAddress(long address)
    {
        using var heap = new SharedHeap(Small);
        var read = Assert.Throws<SharedAddressException>(() => heap.Read<int>(address));
        Assert.Contains($"0x{address:X}", read.Message, StringComparison.Ordinal);
        Assert.Throws<SharedAddressException>(() => heap.Write(address, 7));
        Assert.Throws<SharedAddressException>(() => heap.ReadSpan<int>(address, 1));
        Assert.Throws<SharedAddressException>(() => heap.WriteSpan<int>(address, 1));
    }

    [Fact]
    public void Span_BeyondHeapOrNegativeCount_Throws()
    {
        using var heap = new SharedHeap(Small);
        Assert.Throws<SharedAddressException>(() => heap.ReadSpan<long>(heap.Size - 64, 9));
        Assert.Throws<SharedAddressException>(() => heap.WriteSpan<byte>(0, int.MaxValue));
        Assert.Throws<ArgumentOutOfRangeException>(() => heap.ReadSpan<int>(0, -1));
        Assert.True(heap.ReadSpan<int>(heap.Size, 0).IsEmpty);
    }

    [Fact]
    public void Value_CrossingPageEnd_FaultsBothPages()
    {
        var handler = new RecordingHandler();
        using var heap = new SharedHeap(Small, handler);
        heap.SetAccess(3, PageAccess.NoAccess);
        heap.SetAccess(4, PageAccess.NoAccess);
        var address = (4 * 4096L) - 2;
        Assert.Equal(0, heap.Read<int>(address));
        Assert.Equal([(3, false), (4, false)], handler.Faults);
        handler.Faults.Clear();
        heap.Write(address, 0x11223344);
        Assert.Equal([(3, true), (4, true)], handler.Faults);
        Assert.Equal(0x11223344, heap.Read<int>(address));
    }

    [Fact]
    public void WriteFault_LocalHandler_MakesTwinAndDirtiesPage()
    {
        var handler = new LocalFaultHandler();
        using var heap = new SharedHeap(Small, handler);
        heap.Write(5 * 4096L, 41L);
        handler.CloseInterval(heap);
        heap.Write((5 * 4096L) + 64, 42);
        heap.Write((5 * 4096L) + 68, 43);
        Assert.Equal([5], handler.DirtyPages);
        Assert.Equal(PageAccess.ReadWrite, heap.GetAccess(5));
        Assert.Equal(2, heap.WriteFaults);

        // The twin holds the page as it was at the fault; the diff is exactly the interval's writes.
        var twin = heap.GetEntry(5).Twin;
        Assert.Equal(41L, *(long*)twin);
        Assert.Equal(0, *(int*)(twin + 64));
        var diff = new byte[PageDiff.MaxEncodedLength(4096)];
        var length = heap.MakeDiff(5, diff);
        Assert.Equal(2, PageDiff.ChangedBytes(diff.AsSpan(0, length)));

        Assert.Equal(1, handler.CloseInterval(heap));
        Assert.Equal(PageAccess.ReadOnly, heap.GetAccess(5));
        Assert.Empty(handler.DirtyPages);
        heap.DropTwin(5);
        Assert.Equal(0, heap.Twins.Rented);
    }

    [Fact]
    public void ApplyDiff_ToAnotherHeap_ReproducesWrites()
    {
        var handler = new LocalFaultHandler();
        using var writer = new SharedHeap(Small, handler);
        using var reader = new SharedHeap(Small);
        var rng = new Random(5);
        for (var i = 0; i < 100; i++)
        {
            writer.Write((7 * 4096L) + (rng.Next(1024) * 4), rng.Next());
        }

        var diff = new byte[PageDiff.MaxEncodedLength(4096)];
        var length = writer.MakeDiff(7, diff);
        reader.ApplyDiff(7, diff.AsSpan(0, length));
        Assert.True(writer.PageBytes(7).SequenceEqual(reader.PageBytes(7)), "page 7 differs after applying the writer's diff");
    }

    [Fact]
    public void Spans_FaultEveryPageOnce()
    {
        var handler = new RecordingHandler();
        using var heap = new SharedHeap(Small, handler);
        for (var page = 10; page < 13; page++)
        {
            heap.SetAccess(page, PageAccess.NoAccess);
        }

        var read = heap.ReadSpan<int>((10 * 4096L) + 100, 2048);
        Assert.Equal(2048, read.Length);
        Assert.Equal([(10, false), (11, false), (12, false)], handler.Faults);
        handler.Faults.Clear();
        var write = heap.WriteSpan<int>((10 * 4096L) + 100, 2048);
        write.Fill(9);
        Assert.Equal([(10, true), (11, true), (12, true)], handler.Faults);
        Assert.Equal(9, heap.Read<int>((12 * 4096L) + 16));
    }

    [Fact]
    public void FaultHandler_ThatLeavesPageInvalid_IsReported()
    {
        using var heap = new SharedHeap(Small, new DoNothingHandler());
        heap.SetAccess(2, PageAccess.NoAccess);
        var error = Assert.Throws<InvalidOperationException>(() => heap.Read<int>(2 * 4096L));
        Assert.Contains("left page 2 in state NoAccess", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PageTable_BadPage_Throws()
    {
        using var heap = new SharedHeap(Small);
        Assert.Throws<ArgumentOutOfRangeException>(() => heap.GetAccess(64));
        Assert.Throws<ArgumentOutOfRangeException>(() => heap.SetAccess(-1, PageAccess.ReadOnly));
        Assert.Throws<InvalidOperationException>(() => heap.MakeDiff(3, new byte[PageDiff.MaxEncodedLength(4096)]));
    }

    [Theory]
    [InlineData(4095, 4096L)]
    [InlineData(4096, 4097L)]
    [InlineData(32, 4096L)]
    [InlineData(4096, 0L)]
    [InlineData(4096, 4096L * 3)]
    public void Options_Invalid_NameTheField(int pageSize, long heapSize)
    {
        var options = new HeapOptions { PageSize = pageSize, HeapSize = heapSize == 4096L * 3 && pageSize == 4096 ? -4096 : heapSize };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SharedHeap(options));
        Assert.True(error.ParamName is nameof(HeapOptions.PageSize) or nameof(HeapOptions.HeapSize), $"error names {error.ParamName}");
    }

    [Fact]
    public void LargeHeap_UntouchedPages_CostNoMemory()
    {
        var before = ResidentBytes();
        using var heap = new SharedHeap(new HeapOptions { HeapSize = 4L << 30 });
        var created = ResidentBytes();
        for (var page = 0; page < heap.PageCount; page += heap.PageCount / 16)
        {
            heap.Write(heap.PageAddress(page), page);
        }

        var touched = ResidentBytes();
        // A 4 GiB heap keeps a 1 MiB state table and an 8 MiB entry array; the pages themselves cost nothing.
        Assert.True(created - before < 48L << 20, $"a 4 GiB heap made the process grow by {(created - before) >> 20} MiB");
        Assert.True(touched - created < 16L << 20, $"touching 16 pages grew the process by {(touched - created) >> 20} MiB");
    }

    private static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException("/proc/self/status has no VmRSS line");
    }

    private sealed class RecordingHandler : IFaultHandler
    {
        public List<(int Page, bool Write)> Faults { get; } = [];

        public void OnFault(SharedHeap heap, int page, bool write)
        {
            Faults.Add((page, write));
            heap.SetAccess(page, write ? PageAccess.ReadWrite : PageAccess.ReadOnly);
        }
    }

    private sealed class DoNothingHandler : IFaultHandler
    {
        public void OnFault(SharedHeap heap, int page, bool write)
        {
        }
    }
}
