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

    // Live blocks the runtime uses itself, which the program may not free.
    private readonly HashSet<long> _pinned = [];

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

    /// <summary>The end of the range of global addresses it manages (exclusive).</summary>
    internal long End => _end;

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
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bytes"/> is not positive, or <paramref name="alignment"/> not a positive power of two.</exception>
    /// <exception cref="SharedHeapExhaustedException">No free block can hold the request; the message names the request, the bytes free and the largest free block.</exception>
    public long Malloc(long bytes, int alignment = Granule) =>
        TryMalloc(bytes, alignment, out var address) is { } refusal ? throw refusal.ToException() : address;

    /// <summary>Frees the block that starts at <paramref name="address"/>, merging it with free neighbours.</summary>
    /// <exception cref="InvalidOperationException">The block was already freed (double free).</exception>
    /// <exception cref="ArgumentException">The address is not the start of a live block.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The address is outside the allocator's range.</exception>
    public void Free(long address)
    {
        if (TryFree(address) is { } refusal)
        {
            throw refusal.ToException();
        }
    }

    /// <summary>
    /// What <see cref="Malloc"/> refuses without looking at the free blocks (a size that is not positive or larger than
    /// the whole range, an alignment that is not a positive power of two), or null: what a drone checks before it asks
    /// drone 0.
    /// </summary>
    internal AllocationRefusal? CheckMalloc(long bytes, int alignment)
    {
        if (bytes <= 0)
        {
            return new(AllocationRefusalKind.ArgumentOutOfRange, "Malloc needs a positive byte count.", nameof(bytes), bytes);
        }

        if (alignment <= 0 || !BitOperations.IsPow2(alignment))
        {
            return new(AllocationRefusalKind.ArgumentOutOfRange, "Alignment must be a positive power of two.", nameof(alignment), alignment);
        }

        return bytes > _end - _start
            ? new(AllocationRefusalKind.Exhausted, $"Malloc({bytes}) asks for more than the whole shared heap range of {_end - _start} bytes.")
            : null;
    }

    /// <summary>What <see cref="Free"/> refuses without looking at the blocks (an address outside the range), or null.</summary>
    internal AllocationRefusal? CheckFree(long address) =>
        address < _start || address >= _end
            ? new(AllocationRefusalKind.ArgumentOutOfRange, $"Free(0x{address:X}): the address is outside the shared heap range [0x{_start:X}, 0x{_end:X}).", nameof(address))
            : null;

    /// <summary>As <see cref="Malloc"/>, with a refusal returned instead of thrown (null when <paramref name="address"/> is the block's).</summary>
    internal AllocationRefusal? TryMalloc(long bytes, int alignment, out long address)
    {
        address = 0;
        if (CheckMalloc(bytes, alignment) is { } refusal)
        {
            return refusal;
        }

        alignment = Math.Max(alignment, Granule);
        var size = AlignUp(bytes, Granule);
        lock (_gate)
        {
            // Best fit: the smallest free block that holds the request once aligned.
            foreach (var (freeSize, freeAddress) in _freeBySize.GetViewBetween((size, long.MinValue), (long.MaxValue, long.MaxValue)))
            {
                var start = AlignUp(freeAddress, alignment);
                var padding = start - freeAddress;
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
                    AddFree(start + size, rest);
                }

                _live.Add(start, size);
                _freed.Remove(start);
                _allocatedBytes += size;
                address = start;
                return null;
            }

            long free = 0;
            foreach (var (freeSize, _) in _freeBySize)
            {
                free += freeSize;
            }

            var largest = _freeBySize.Count == 0 ? 0 : _freeBySize.Max.Size;
            return new(
                AllocationRefusalKind.Exhausted,
                $"Malloc({bytes}, alignment {alignment}) failed: the shared heap has {_allocatedBytes} bytes allocated and {free} bytes free, " +
                $"and its largest free block holds {largest} bytes.");
        }
    }

    /// <summary>
    /// Marks the live block at <paramref name="address"/> as the runtime's own (the collective allocations' ballots, a
    /// distribution's bytes): the program's <see cref="Free"/> of it is refused, so a stray free can never hand it out again
    /// while the runtime still writes it. <see cref="FreePinned"/> frees it.
    /// </summary>
    internal void Pin(long address)
    {
        lock (_gate)
        {
            if (!_live.ContainsKey(address))
            {
                throw new ArgumentException($"Pin(0x{address:X}): no live block starts there.", nameof(address));
            }

            _pinned.Add(address);
        }
    }

    /// <summary>Frees a block the runtime pinned (<see cref="Pin"/>).</summary>
    internal void FreePinned(long address)
    {
        lock (_gate)
        {
            _pinned.Remove(address);
        }

        Free(address);
    }

    /// <summary>As <see cref="Free"/>, with a refusal returned instead of thrown (null when the block was freed).</summary>
    internal AllocationRefusal? TryFree(long address)
    {
        if (CheckFree(address) is { } refusal)
        {
            return refusal;
        }

        lock (_gate)
        {
            if (_pinned.Contains(address))
            {
                return new(
                    AllocationRefusalKind.Argument,
                    $"Free(0x{address:X}): the block at that address is the runtime's own (a distribution's bytes or the collective allocations' ballots), not one the program allocated.",
                    nameof(address));
            }

            if (!_live.Remove(address, out var size))
            {
                if (_freed.Contains(address) && IsFree(address))
                {
                    return new(AllocationRefusalKind.InvalidOperation, $"Free(0x{address:X}): double free; the block at that address was already freed.");
                }

                return new(
                    AllocationRefusalKind.Argument,
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
            return null;
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
