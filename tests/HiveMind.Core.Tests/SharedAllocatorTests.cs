using FsCheck.Fluent;
using HiveMind.Allocation;

namespace HiveMind.Core.Tests;

public sealed class SharedAllocatorTests
{
    private const long HeapSize = 1 << 20;

    [Fact]
    public void RandomMallocFree_NeverOverlapAndReturnAllMemory()
    {
        var generator =
            from seed in Gen.Choose(0, int.MaxValue)
            from steps in Gen.Choose(1, 400)
            select (seed, steps);
        PropertyCheck.Holds(generator, c => RunRandom(c.seed, c.steps), maxTest: 150);
    }

    [Fact]
    public void Malloc_FromManyThreads_NeverOverlaps()
    {
        var allocator = new SharedAllocator(0, HeapSize);
        var blocks = new List<(long Address, long Size)>[4];
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            var rng = new Random(t);
            var mine = blocks[t] = [];
            for (var i = 0; i < 2000; i++)
            {
                if (mine.Count > 0 && rng.Next(3) == 0)
                {
                    var victim = rng.Next(mine.Count);
                    allocator.Free(mine[victim].Address);
                    mine.RemoveAt(victim);
                }
                else
                {
                    var size = rng.Next(1, 300);
                    mine.Add((allocator.Malloc(size), size));
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60)), "an allocating thread did not finish within 60 s"));
        AssertDisjoint(blocks.SelectMany(b => b).ToList(), "after 4 threads x 2000 operations");
        foreach (var (address, _) in blocks.SelectMany(b => b))
        {
            allocator.Free(address);
        }

        Assert.Equal(0, allocator.AllocatedBytes);
        Assert.Equal(1, allocator.FreeBlockCount);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(64)]
    [InlineData(4096)]
    public void Malloc_Alignment_IsHonoured(int alignment)
    {
        var allocator = new SharedAllocator(0, HeapSize);
        allocator.Malloc(24); // move the next free address off any large alignment
        for (var i = 0; i < 20; i++)
        {
            var address = allocator.Malloc(1 + (i * 37), alignment);
            Assert.True(address % alignment == 0, $"Malloc with alignment {alignment} returned 0x{address:X}");
        }
    }

    [Fact]
    public void Malloc_NeverReturnsZero()
    {
        var allocator = new SharedAllocator(0, HeapSize);
        Assert.NotEqual(0, allocator.Malloc(1));
    }

    [Fact]
    public void Malloc_Exhausted_SaysWhatIsLeft()
    {
        var allocator = new SharedAllocator(0, 4096);
        allocator.Malloc(4000);
        var error = Assert.Throws<SharedHeapExhaustedException>(() => allocator.Malloc(200));
        Assert.Contains("Malloc(200, alignment 16) failed: the shared heap has 4000 bytes allocated and 80 bytes free, and its largest free block holds 80 bytes.", error.Message, StringComparison.Ordinal);
        Assert.Throws<SharedHeapExhaustedException>(() => allocator.Malloc(HeapSize * 2));
    }

    [Fact]
    public void Free_Twice_IsDoubleFree()
    {
        var allocator = new SharedAllocator(0, HeapSize);
        var a = allocator.Malloc(100);
        allocator.Malloc(100);
        allocator.Free(a);
        var error = Assert.Throws<InvalidOperationException>(() => allocator.Free(a));
        Assert.Contains("double free", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Free_ForeignAddresses_AreRejectedAndLoseNothing()
    {
        var allocator = new SharedAllocator(0, HeapSize);
        var a = allocator.Malloc(100);
        var live = allocator.AllocatedBytes;
        var inside = Assert.Throws<ArgumentException>(() => allocator.Free(a + 16));
        Assert.Contains("inside an allocated block", inside.Message, StringComparison.Ordinal);
        var never = Assert.Throws<ArgumentException>(() => allocator.Free(a + 4096));
        Assert.Contains("no block was allocated", never.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => allocator.Free(-8));
        Assert.Throws<ArgumentOutOfRangeException>(() => allocator.Free(HeapSize));
        Assert.Equal(live, allocator.AllocatedBytes);
        Assert.Equal(112, allocator.SizeOf(a));
    }

    [Fact]
    public void Malloc_BadArguments_Throw()
    {
        var allocator = new SharedAllocator(0, HeapSize);
        Assert.Throws<ArgumentOutOfRangeException>(() => allocator.Malloc(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => allocator.Malloc(-5));
        Assert.Throws<ArgumentOutOfRangeException>(() => allocator.Malloc(8, 3));
    }

    private static void RunRandom(int seed, int steps)
    {
        var rng = new Random(seed);
        var allocator = new SharedAllocator(0, HeapSize);
        var total = allocator.FreeBytes;
        var live = new List<(long Address, long Size)>();
        for (var i = 0; i < steps; i++)
        {
            if (live.Count > 0 && rng.Next(5) < 2)
            {
                var victim = rng.Next(live.Count);
                allocator.Free(live[victim].Address);
                live.RemoveAt(victim);
                continue;
            }

            var size = rng.Next(4) == 0 ? rng.Next(1, 20_000) : rng.Next(1, 200);
            var alignment = 1 << rng.Next(0, 13);
            try
            {
                var address = allocator.Malloc(size, alignment);
                Assert.True(address % Math.Max(alignment, SharedAllocator.Granule) == 0, $"seed {seed} step {i}: 0x{address:X} not aligned to {alignment}");
                Assert.True(address > 0 && address + size <= HeapSize, $"seed {seed} step {i}: block 0x{address:X}+{size} outside the heap");
                live.Add((address, size));
            }
            catch (SharedHeapExhaustedException)
            {
                // A full heap is a legal outcome of a random sequence; the checks below still apply.
            }
        }

        AssertDisjoint(live, $"seed {seed} after {steps} steps");
        Assert.Equal(live.Sum(b => allocator.SizeOf(b.Address)), allocator.AllocatedBytes);
        foreach (var (address, _) in live)
        {
            allocator.Free(address);
        }

        Assert.True(allocator.AllocatedBytes == 0, $"seed {seed}: {allocator.AllocatedBytes} bytes still allocated after freeing all");
        Assert.True(allocator.FreeBytes == total, $"seed {seed}: {allocator.FreeBytes} bytes free, expected {total}");
        Assert.True(allocator.FreeBlockCount == 1, $"seed {seed}: {allocator.FreeBlockCount} free blocks after freeing all: coalescing failed");
    }

    private static void AssertDisjoint(List<(long Address, long Size)> blocks, string when)
    {
        var sorted = blocks.OrderBy(b => b.Address).ToList();
        for (var i = 1; i < sorted.Count; i++)
        {
            var (previous, size) = sorted[i - 1];
            Assert.True(previous + size <= sorted[i].Address,
                $"{when}: block 0x{previous:X}+{size} overlaps block 0x{sorted[i].Address:X}");
        }
    }
}
