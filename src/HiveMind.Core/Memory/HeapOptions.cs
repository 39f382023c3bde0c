using System.Numerics;

namespace HiveMind.Memory;

/// <summary>Shape of the shared heap: page size and total size. Every drone of a run uses the same values.</summary>
public sealed record HeapOptions
{
    /// <summary>Default page size, as in TreadMarks.</summary>
    public const int DefaultPageSize = 4096;

    /// <summary>Default heap: 1 GiB of address space; untouched pages cost no memory.</summary>
    public const long DefaultHeapSize = 1L << 30;

    /// <summary>
    /// Smallest page: the granule of the access-state table (<see cref="SharedHeap.StateGranuleShift"/>), so that
    /// the fast path indexes the table with a constant shift whatever the page size.
    /// </summary>
    public const int MinPageSize = 4096;

    /// <summary>Largest page: 16 MiB.</summary>
    public const int MaxPageSize = 1 << 24;

    /// <summary>Largest heap: 1 TiB of address space.</summary>
    public const long MaxHeapSize = 1L << 40;

    /// <summary>Bytes per page: a power of two in [<see cref="MinPageSize"/>, <see cref="MaxPageSize"/>].</summary>
    public int PageSize { get; init; } = DefaultPageSize;

    /// <summary>Bytes of shared heap: a positive multiple of <see cref="PageSize"/>.</summary>
    public long HeapSize { get; init; } = DefaultHeapSize;

    /// <summary>Throws <see cref="ArgumentException"/> naming the field and the problem if the shape is unusable.</summary>
    public void Validate()
    {
        if (PageSize < MinPageSize || PageSize > MaxPageSize || !BitOperations.IsPow2(PageSize))
        {
            throw new ArgumentOutOfRangeException(
                nameof(PageSize), PageSize, $"PageSize must be a power of two between {MinPageSize} and {MaxPageSize} bytes.");
        }

        if (HeapSize <= 0 || HeapSize > MaxHeapSize || HeapSize % PageSize != 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(HeapSize), HeapSize, $"HeapSize must be a positive multiple of PageSize ({PageSize}) of at most {MaxHeapSize} bytes.");
        }

        if (HeapSize / PageSize > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(
                nameof(HeapSize), HeapSize, $"HeapSize / PageSize must not exceed {int.MaxValue} pages.");
        }
    }
}
