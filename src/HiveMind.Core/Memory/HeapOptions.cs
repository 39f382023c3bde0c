using System.Diagnostics;
using System.Numerics;
using System.Reflection;

namespace HiveMind.Memory;

/// <summary>
/// Shape of the shared heap: page size and total size, which every drone of a run shares; and whether this drone checks
/// the spans it hands out.
/// </summary>
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

    /// <summary>
    /// Whether each use of a span the heap hands out (<see cref="SharedSpan{T}"/>, <see cref="SharedReadOnlySpan{T}"/>)
    /// checks that no synchronization came since it was made: a stale use throws, naming the span and the
    /// synchronization. Off, the check still runs but always passes. Default: <see cref="DefaultCheckSpans"/>. A drone's
    /// own setting: drones of one run may differ.
    /// </summary>
    public bool CheckSpans { get; init; } = DefaultCheckSpans;

    /// <summary>
    /// The default of <see cref="CheckSpans"/>: on when the process's entry assembly is a Debug build
    /// (<see cref="ChecksSpansFor"/> of <see cref="Assembly.GetEntryAssembly"/>), so a program run from a Debug build
    /// checks its spans without asking.
    /// </summary>
    public static bool DefaultCheckSpans { get; } = ChecksSpansFor(Assembly.GetEntryAssembly());

    /// <summary>
    /// Whether spans are checked by default for a program whose entry assembly is <paramref name="program"/>: true when it
    /// was compiled without optimization (a Debug build: its <see cref="DebuggableAttribute"/> disables the JIT
    /// optimizer), false for an optimized build or none (null: no managed entry assembly).
    /// </summary>
    public static bool ChecksSpansFor(Assembly? program) =>
        program?.GetCustomAttribute<DebuggableAttribute>() is { IsJITOptimizerDisabled: true };

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
