namespace HiveMind.Apps.QuickSort;

/// <summary>
/// TreadMarks' QuickSort on the shared heap: a shared stack of ranges under <see cref="QueueLock"/>; a drone
/// pops a range, partitions it in place, pushes the larger part back (when it is at least
/// <c>shareAbove</c> elements; smaller parts stay on this drone's own stack) and goes on with the smaller one,
/// and sorts ranges at or below the threshold locally through a span. The run ends when every element is sorted.
/// </summary>
internal sealed class DroneQuickSort(Drone drone, QuickSortLayout layout, int count, int threshold, int shareAbove)
{
    /// <summary>The lock that guards the task queue and the sorted count.</summary>
    public const int QueueLock = 0;

    private readonly SharedArray<int> _data = drone.Array<int>(layout.Array, count);

    /// <summary>Sets up the queue with the whole array as its one task (drone 0, before the start barrier).</summary>
    public void Seed()
    {
        drone.Heap.Write(layout.TaskCountAddress, 1);
        drone.Heap.Write(layout.SortedAddress, 0L);
        drone.Heap.Write(layout.TaskAddress(0), 0);
        drone.Heap.Write(layout.TaskAddress(0) + 4, count);
        drone.Heap.Write(layout.TaskAddress(0) + 8, drone.Id);
    }

    /// <summary>Works until every element is sorted; reports the sorted count seen under the lock.</summary>
    public void Run(Action<long> progress)
    {
        long sortedHere = 0;
        var idle = 0;
        while (true)
        {
            drone.LockAcquire(QueueLock);
            var sorted = drone.Heap.Read<long>(layout.SortedAddress) + sortedHere;
            drone.Heap.Write(layout.SortedAddress, sorted);
            sortedHere = 0;
            var (found, lo, hi) = Pop();
            drone.LockRelease(QueueLock);
            progress(sorted);
            if (!found)
            {
                if (sorted >= count)
                {
                    return;
                }

                // Other drones still hold ranges that may come back as tasks: back off before asking again,
                // so idle drones do not keep the queue lock (and its page) moving between drones.
                idle++;
                if (idle < 4)
                {
                    Thread.Yield();
                }
                else
                {
                    Thread.Sleep(Math.Min(idle - 3, 5));
                }

                continue;
            }

            idle = 0;

            // Large parts go back to the shared queue for any drone; small ones stay with this drone, which
            // sorts them without touching the queue lock (each lock operation ends an interval on every page
            // written since the last one, so fewer of them means fewer twins and diffs).
            var local = new Stack<(int Lo, int Hi)>();
            local.Push((lo, hi));
            while (local.TryPop(out var range))
            {
                (lo, hi) = range;
                while (hi - lo > threshold)
                {
                    var split = lo + Partitioner.Partition(_data.AsSpan(lo, hi - lo));
                    var (keepLo, keepHi, giveLo, giveHi) = split - lo < hi - split ? (lo, split, split, hi) : (split, hi, lo, split);
                    if (giveHi - giveLo >= shareAbove)
                    {
                        drone.LockAcquire(QueueLock);
                        Push(giveLo, giveHi);
                        drone.LockRelease(QueueLock);
                    }
                    else
                    {
                        local.Push((giveLo, giveHi));
                    }

                    (lo, hi) = (keepLo, keepHi);
                }

                Partitioner.SortLocal(_data.AsSpan(lo, hi - lo));
                sortedHere += hi - lo;
            }
        }
    }

    /// <summary>
    /// Takes the newest task this drone pushed, whose pages its copy most likely holds up to date; when it pushed
    /// none, the newest task of any drone (the smallest part waiting, so a steal moves little data).
    /// </summary>
    private (bool Found, int Lo, int Hi) Pop()
    {
        var tasks = drone.Heap.Read<int>(layout.TaskCountAddress);
        if (tasks == 0)
        {
            return (false, 0, 0);
        }

        var take = tasks - 1;
        for (var slot = tasks - 1; slot >= 0; slot--)
        {
            if (drone.Heap.Read<int>(layout.TaskAddress(slot) + 8) == drone.Id)
            {
                take = slot;
                break;
            }
        }

        var address = layout.TaskAddress(take);
        var (lo, hi) = (drone.Heap.Read<int>(address), drone.Heap.Read<int>(address + 4));
        for (var slot = take + 1; slot < tasks; slot++)
        {
            // Close the gap: the tasks above move down one slot, keeping their order.
            for (var field = 0; field < QuickSortLayout.TaskBytes; field += 4)
            {
                drone.Heap.Write(layout.TaskAddress(slot - 1) + field, drone.Heap.Read<int>(layout.TaskAddress(slot) + field));
            }
        }

        drone.Heap.Write(layout.TaskCountAddress, tasks - 1);
        return (true, lo, hi);
    }

    private void Push(int lo, int hi)
    {
        var tasks = drone.Heap.Read<int>(layout.TaskCountAddress);
        if (tasks >= layout.Capacity)
        {
            throw new InvalidOperationException(
                $"Drone {drone.Id}: the task queue of {layout.Capacity} slots is full pushing [{lo}, {hi}).");
        }

        var slot = layout.TaskAddress(tasks);
        drone.Heap.Write(slot, lo);
        drone.Heap.Write(slot + 4, hi);
        drone.Heap.Write(slot + 8, drone.Id);
        drone.Heap.Write(layout.TaskCountAddress, tasks + 1);
    }
}
