using System.Numerics;

namespace HiveMind.Allocation;

/// <summary>
/// Malloc/Free over the global addresses of the shared heap. The bookkeeping lives in managed memory,
/// outside the heap, so allocating never writes a shared page (no faults, no diffs). Best fit over free
/// blocks kept by size, coalescing with both neighbours on free. Thread-safe.
/// </summary>
/// <remarks>
/// Address 0 is never handed out (the first <see cref="Granule"/> bytes are reserved) so that 0 can mean
/// "no block" in shared data structures. Every block size and address is a multiple of <see cref="Granule"/>.
/// </remarks>
public sealed class SharedAllocator
{
    /// <summary>Unit of allocation, and the smallest alignment.</summary>
    public const int Granule = 16;

    private readonly Lock _gate = new();
    private readonly long _start;
    private readonly long _end;

    // Free blocks: by address (floor lookups for coalescing and diagnosis), by start (exact lookups), and
    // by (size, address) (best fit). All three change together in AddFree/RemoveFree.
    private readonly SortedSet<(long Address, long Size)> _freeByAddress = [];
    private readonly Dictionary<long, long> _freeStarts = [];
    private readonly SortedSet<(long Size, long Address)> _freeBySize = [];

    // Live blocks: address -> size.
    private readonly Dictionary<long, long> _live = [];

    // Addresses that were block starts when last freed: tells a double free from a foreign address.
    private readonly HashSet<long> _freed = [];

    private long _allocatedBytes;

    /// <summary>An allocator for the global addresses [<paramref name="start"/>, <paramref name="end"/>).</summary>
    public SharedAllocator(long start, long end)
    {
        if (start < 0 || end <= start)
        {
            throw new ArgumentOutOfRangeException(nameof(end), end, $"The managed range [{start}, {end}) is empty or negative.");
        }

        _start = start;
        _end = end;
        var first = Math.Max(AlignUp(start, Granule), Granule); // never hand out address 0
        var last = end & ~(long)(Granule - 1);
        if (last > first)
        {
            AddFree(first, last - first);
        }
    }

    /// <summary>Bytes handed out and not yet freed.</summary>
    public long AllocatedBytes
    {
        get
        {
            lock (_gate)
            {
                return _allocatedBytes;
            }
        }
    }

    /// <summary>Bytes free, in all blocks.</summary>
    public long FreeBytes
    {
        get
        {
            lock (_gate)
            {
                long total = 0;
                foreach (var (size, _) in _freeBySize)
                {
                    total += size;
                }

                return total;
            }
        }
    }

    /// <summary>Number of free blocks (1 when everything is free: coalescing works).</summary>
    public int FreeBlockCount
    {
        get
        {
            lock (_gate)
            {
                return _freeBySize.Count;
            }
        }
    }

    /// <summary>Number of live blocks.</summary>
    public int LiveBlockCount
    {
        get
        {
            lock (_gate)
            {
                return _live.Count;
            }
        }
    }

    /// <summary>
    /// Allocates <paramref name="bytes"/> bytes aligned to <paramref name="alignment"/> (a power of two;
    /// at least <see cref="Granule"/>) and returns its global address.
    /// </summary>
    /// <exception cref="SharedHeapExhaustedException">No free block can hold the request.</exception>
    public long Malloc(long bytes, int alignment = Granule)
    {
        if (bytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "Malloc needs a positive byte count.");
        }

        if (alignment <= 0 || !BitOperations.IsPow2(alignment))
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "Alignment must be a positive power of two.");
        }

        if (bytes > _end - _start)
        {
            throw new SharedHeapExhaustedException(
                $"Malloc({bytes}) asks for more than the whole shared heap range of {_end - _start} bytes.");
        }

        alignment = Math.Max(alignment, Granule);
        var size = AlignUp(bytes, Granule);
        lock (_gate)
        {
            // Best fit: the smallest free block that holds the request once aligned.
            foreach (var (freeSize, freeAddress) in _freeBySize.GetViewBetween((size, long.MinValue), (long.MaxValue, long.MaxValue)))
            {
                var address = AlignUp(freeAddress, alignment);
                var padding = address - freeAddress;
                if (padding + size > freeSize)
                {
                    continue;
                }

                RemoveFree(freeAddress, freeSize);
                if (padding > 0)
                {
                    AddFree(freeAddress, padding);
                }

                var rest = freeSize - padding - size;
                if (rest > 0)
                {
                    AddFree(address + size, rest);
                }

                _live.Add(address, size);
                _freed.Remove(address);
                _allocatedBytes += size;
                return address;
            }

            var largest = _freeBySize.Count == 0 ? 0 : _freeBySize.Max.Size;
            throw new SharedHeapExhaustedException(
                $"Malloc({bytes}, alignment {alignment}) failed: the shared heap has {_allocatedBytes} bytes allocated " +
                $"and its largest free block holds {largest} bytes.");
        }
    }

    /// <summary>Frees the block that starts at <paramref name="address"/>, merging it with free neighbours.</summary>
    /// <exception cref="InvalidOperationException">The block was already freed (double free).</exception>
    /// <exception cref="ArgumentException">The address is not the start of a live block.</exception>
    public void Free(long address)
    {
        lock (_gate)
        {
            if (address < _start || address >= _end)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(address), $"Free(0x{address:X}): the address is outside the shared heap range [0x{_start:X}, 0x{_end:X}).");
            }

            if (!_live.Remove(address, out var size))
            {
                if (_freed.Contains(address) && IsFree(address))
                {
                    throw new InvalidOperationException($"Free(0x{address:X}): double free; the block at that address was already freed.");
                }

                throw new ArgumentException(
                    IsFree(address)
                        ? $"Free(0x{address:X}): no block was allocated at that address."
                        : $"Free(0x{address:X}): the address points inside an allocated block, not at its start.",
                    nameof(address));
            }

            _allocatedBytes -= size;
            _freed.Add(address);

            // Coalesce with the free block that ends here and the one that starts right after.
            var start = address;
            var end = address + size;
            if (TryFloorFree(address, out var before, out var beforeSize) && before + beforeSize == address)
            {
                RemoveFree(before, beforeSize);
                start = before;
            }

            if (_freeStarts.TryGetValue(end, out var afterSize))
            {
                RemoveFree(end, afterSize);
                end += afterSize;
            }

            AddFree(start, end - start);
        }
    }

    /// <summary>Size of the live block that starts at <paramref name="address"/>, or -1.</summary>
    public long SizeOf(long address)
    {
        lock (_gate)
        {
            return _live.TryGetValue(address, out var size) ? size : -1;
        }
    }

    /// <summary>The live blocks as (address, size), ordered by address. For checks and diagnostics.</summary>
    public IReadOnlyList<(long Address, long Size)> LiveBlocks()
    {
        lock (_gate)
        {
            return _live.OrderBy(pair => pair.Key).Select(pair => (pair.Key, pair.Value)).ToList();
        }
    }

    private bool IsFree(long address) =>
        TryFloorFree(address + 1, out var block, out var size) && address >= block && address < block + size;

    /// <summary>The free block with the largest address below <paramref name="address"/>.</summary>
    private bool TryFloorFree(long address, out long block, out long size)
    {
        // Max of a view walks one path of the tree (Count would walk the whole view); an empty view gives
        // default, and no free block has size 0.
        (block, size) = _freeByAddress.GetViewBetween((long.MinValue, long.MinValue), (address - 1, long.MaxValue)).Max;
        return size != 0;
    }

    private void AddFree(long address, long size)
    {
        _freeByAddress.Add((address, size));
        _freeStarts.Add(address, size);
        _freeBySize.Add((size, address));
    }

    private void RemoveFree(long address, long size)
    {
        _freeByAddress.Remove((address, size));
        _freeStarts.Remove(address);
        _freeBySize.Remove((size, address));
    }

    private static long AlignUp(long value, long alignment) => (value + alignment - 1) & ~(alignment - 1);
}
