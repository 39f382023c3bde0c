namespace HiveMind.Apps.QuickSort;

/// <summary>
/// Where QuickSort keeps its shared state: the array, and on pages of their own (so that queue traffic never
/// falsely shares a page with the data) the task queue and one table per drone of the ranges it holds.
/// </summary>
/// <remarks>
/// Queue: header (pending task count: int, spare: int, elements sorted so far: long), then tasks of 16 bytes
/// (lo, hi, how many drones had failed when it was pushed, the drone that pushed it or <see cref="RebuildPusher"/>). Drone table:
/// header (elements it reported sorted: long, ranges held: int, recovered after its failure: int, protocol messages it
/// sent during the timed sort: long), then its ranges (lo, hi) of 8 bytes. All of it but the message count (which its
/// drone writes before the last barrier of the sort) is read and written under the queue lock only.
/// </remarks>
internal readonly record struct QuickSortLayout(long Array, long Queue, int Capacity, int Drones)
{
    /// <summary>Queue header bytes.</summary>
    public const int HeaderBytes = 16;

    /// <summary>Bytes per task.</summary>
    public const int TaskBytes = 16;

    /// <summary>Drone table header bytes.</summary>
    public const int TableHeaderBytes = 24;

    /// <summary>Pusher of a task whose contents must be rebuilt from the input (its range was held by a failed drone).</summary>
    public const int RebuildPusher = -1;

    public long TaskCountAddress => Queue;

    public long SortedAddress => Queue + 8;

    public long TaskAddress(int slot) => Queue + HeaderBytes + (slot * (long)TaskBytes);

    /// <summary>The ranges a drone holds: one per range it popped, plus one per part it pushed back (a split).</summary>
    public int OwnedCapacity => (2 * Capacity) + 2;

    /// <summary>Task slots: the pending ranges, plus room for the ranges of a failed drone put back at once.</summary>
    public int TaskCapacity => Capacity + OwnedCapacity;

    public long TableAddress(int drone) => TaskAddress(TaskCapacity) + (drone * (TableHeaderBytes + (OwnedCapacity * 8L)));

    public long DoneAddress(int drone) => TableAddress(drone);

    public long OwnedCountAddress(int drone) => TableAddress(drone) + 8;

    public long RecoveredAddress(int drone) => TableAddress(drone) + 12;

    public long MessagesAddress(int drone) => TableAddress(drone) + 16;

    public long OwnedAddress(int drone, int slot) => TableAddress(drone) + TableHeaderBytes + (slot * 8L);

    /// <summary>Bytes of the queue and the drone tables.</summary>
    public long QueueBytes => TableAddress(Drones) - Queue;

    /// <summary>
    /// Pending tasks are disjoint ranges longer than the threshold, so at most count / threshold of them exist.
    /// </summary>
    public static int CapacityFor(int count, int threshold) => (count / threshold) + 1;

    public static long QueueBytesFor(int count, int threshold, int drones)
    {
        var capacity = CapacityFor(count, threshold);
        var owned = (2 * capacity) + 2;
        return HeaderBytes + ((capacity + owned) * (long)TaskBytes) + (drones * (TableHeaderBytes + (owned * 8L)));
    }

    public static long BytesNeeded(int count, int threshold, int drones, int pageSize) =>
        RoundUp(count * 4L, pageSize) + RoundUp(QueueBytesFor(count, threshold, drones), pageSize) + pageSize;

    private static long RoundUp(long value, long unit) => (value + unit - 1) / unit * unit;
}
