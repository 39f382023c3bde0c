namespace HiveMind.Apps.QuickSort;

/// <summary>
/// Where QuickSort keeps its shared state: the array, and on pages of its own the task queue (a stack of
/// ranges) with its header, so that queue traffic never falsely shares a page with the data. A task is
/// (lo, hi, drone that pushed it).
/// </summary>
internal readonly record struct QuickSortLayout(long Array, long Queue, int Capacity)
{
    /// <summary>Header: pending task count (int), spare (int), elements sorted so far (long).</summary>
    public const int HeaderBytes = 16;

    /// <summary>Bytes per task: lo, hi and the drone that pushed it (ints).</summary>
    public const int TaskBytes = 12;

    public long TaskCountAddress => Queue;

    public long SortedAddress => Queue + 8;

    public long TaskAddress(int slot) => Queue + HeaderBytes + (slot * (long)TaskBytes);

    /// <summary>
    /// Pending tasks are disjoint ranges longer than the threshold, so at most count / threshold of them exist.
    /// </summary>
    public static int CapacityFor(int count, int threshold) => (count / threshold) + 1;

    public static long BytesNeeded(int count, int threshold, int pageSize) =>
        RoundUp(count * 4L, pageSize) + RoundUp(HeaderBytes + (CapacityFor(count, threshold) * (long)TaskBytes), pageSize) + pageSize;

    private static long RoundUp(long value, long unit) => (value + unit - 1) / unit * unit;
}
