namespace HiveMind.Apps.QuickSort;

/// <summary>
/// TreadMarks' QuickSort on the shared heap: a shared stack of ranges under <see cref="QueueLock"/>; a drone
/// pops a range, partitions it in place, pushes the larger part back (when it is at least
/// <c>shareAbove</c> elements; smaller parts stay on this drone's own stack) and goes on with the smaller one,
/// and sorts ranges at or below the threshold locally through a span. The run ends when every element is sorted.
/// </summary>
/// <remarks>
/// Failure tolerance: under the queue lock each drone keeps in its table the ranges it holds (popped, minus the
/// parts it pushed back) and how many elements it reported sorted. When the view says a drone failed, the next
/// drone to take the queue lock puts its ranges back as tasks to rebuild and takes its sorted count back. A range
/// holds exactly the elements whose sorted positions lie in it, so a rebuild selects those elements from the
/// input again. A task pushed in an older view than the one its contents were fetched in is rebuilt too: its
/// contents may miss writes of the failed drone.
/// </remarks>
internal sealed class DroneQuickSort(Drone drone, QuickSortLayout layout, int count, int seed, int threshold, int shareAbove, Stall? stall = null)
{
    /// <summary>The lock that guards the task queue, the drone tables and the sorted count.</summary>
    public const int QueueLock = 0;

    /// <summary>A lock taken only to end an interval between the two writes of a rebuild.</summary>
    private const int RebuildLock = 1;

    private readonly SharedArray<int> _data = drone.Array<int>(layout.Array, count);
    private int[]? _input;

    /// <summary>Elements this drone sorted (its share of the work).</summary>
    public long Sorted { get; private set; }

    /// <summary>Ranges rebuilt from the input on this drone.</summary>
    public int Rebuilt { get; private set; }

    /// <summary>Failed drones whose ranges this drone put back in the queue.</summary>
    public int Recovered { get; private set; }

    /// <summary>Sets up the queue with the whole array as its one task (drone 0, before the start barrier).</summary>
    public void Seed()
    {
        drone.Heap.Write(layout.SortedAddress, 0L);
        drone.Heap.Write(layout.TaskCountAddress, 0);
        PushTask(0, count, 0, 0);
    }

    /// <summary>Works until every element is sorted; reports the sorted count seen under the lock.</summary>
    public void Run(Action<long> progress)
    {
        long sortedHere = 0;
        var idle = 0;
        while (true)
        {
            drone.LockAcquire(QueueLock);
            FetchQueue();
            RecoverFailedDrones();
            var sorted = drone.Heap.Read<long>(layout.SortedAddress) + sortedHere;
            if (sortedHere > 0)
            {
                // Written only with news: every write here is a page the next holder of the lock must fetch.
                drone.Heap.Write(layout.SortedAddress, sorted);
                drone.Heap.Write(layout.DoneAddress(drone.Id), drone.Heap.Read<long>(layout.DoneAddress(drone.Id)) + sortedHere);
                sortedHere = 0;
            }

            var task = Pop();
            if (task is { } popped)
            {
                AddOwned(popped.Lo, popped.Hi);
            }

            stall?.At(StallPoint.QueueLock, drone.Id);
            drone.LockRelease(QueueLock);
            progress(sorted);
            if (task is not { } found)
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
            var (lo, hi) = (found.Lo, found.Hi);

            // Fetch the range, then judge it: pushed in an older view (or by a failed drone's recovery), its
            // contents may lack writes that died with a drone, so it is rebuilt from the input.
            _ = _data.AsReadOnlySpan(lo, hi - lo);
            if (found.Pusher == QuickSortLayout.RebuildPusher || drone.FailedCount != found.View)
            {
                Rebuild(lo, hi);
            }

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
                    stall?.At(StallPoint.Partition, drone.Id);
                    var (keepLo, keepHi, giveLo, giveHi) = split - lo < hi - split ? (lo, split, split, hi) : (split, hi, lo, split);
                    if (giveHi - giveLo >= shareAbove)
                    {
                        drone.LockAcquire(QueueLock);
                        FetchQueue();
                        PushTask(giveLo, giveHi, drone.FailedCount, drone.Id);
                        RemoveOwned(giveLo, giveHi);
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
                Sorted += hi - lo;
            }
        }
    }

    /// <summary>
    /// On drone 0 after the last barrier: whether every range is on this drone and sorted. It fetches the whole
    /// array; when a drone failed (before or during the fetch) whose ranges were not put back, it puts them back
    /// and returns false, and the caller sorts them here.
    /// </summary>
    public bool Settle()
    {
        var failures = drone.FailedCount;
        _ = _data.AsReadOnlySpan();
        drone.LockAcquire(QueueLock);
        FetchQueue();
        var recovered = RecoverFailedDrones();
        var sorted = drone.Heap.Read<long>(layout.SortedAddress);
        drone.LockRelease(QueueLock);
        return recovered == 0 && sorted >= count && drone.FailedCount == failures;
    }

    /// <summary>Brings the queue and every drone table up to date in one batch (a drone's table must outlive it).</summary>
    private void FetchQueue() => _ = drone.Array<byte>(layout.Queue, checked((int)layout.QueueBytes)).AsReadOnlySpan();

    /// <summary>Puts the ranges of failed drones back as tasks to rebuild; returns how many drones it recovered.</summary>
    private int RecoverFailedDrones()
    {
        var recovered = 0;
        if (drone.FailedCount == 0)
        {
            return 0; // nobody failed
        }

        foreach (var failed in drone.View.Removed)
        {
            if (drone.Heap.Read<int>(layout.RecoveredAddress(failed)) != 0)
            {
                continue;
            }

            // Its ranges, with neighbours joined: fewer, larger tasks to rebuild (each rebuild reads the whole input).
            var owned = drone.Heap.Read<int>(layout.OwnedCountAddress(failed));
            var ranges = new List<(int Lo, int Hi)>();
            for (var slot = 0; slot < owned; slot++)
            {
                var address = layout.OwnedAddress(failed, slot);
                ranges.Add((drone.Heap.Read<int>(address), drone.Heap.Read<int>(address + 4)));
            }

            ranges.Sort();
            var merged = new List<(int Lo, int Hi)>();
            foreach (var range in ranges)
            {
                if (merged.Count > 0 && merged[^1].Hi == range.Lo)
                {
                    merged[^1] = (merged[^1].Lo, range.Hi);
                }
                else
                {
                    merged.Add(range);
                }
            }

            foreach (var (lo, hi) in merged)
            {
                PushTask(lo, hi, drone.FailedCount, QuickSortLayout.RebuildPusher);
            }

            var done = drone.Heap.Read<long>(layout.DoneAddress(failed));
            drone.Heap.Write(layout.SortedAddress, drone.Heap.Read<long>(layout.SortedAddress) - done);
            drone.Heap.Write(layout.DoneAddress(failed), 0L);
            drone.Heap.Write(layout.OwnedCountAddress(failed), 0);
            drone.Heap.Write(layout.RecoveredAddress(failed), 1);
            Console.WriteLine($"drone {drone.Id}: drone {failed} failed; its {merged.Count} range(s) go back to the queue, {done} sorted element(s) with them");
            Recovered++;
            recovered++;
        }

        return recovered;
    }

    /// <summary>
    /// Writes into [lo, hi) the input elements whose sorted positions lie there. Written twice, across an interval
    /// boundary (first their complements, then the values), so that the diff of the second write carries every
    /// word: copies that kept different leftovers of a failed drone's writes all end up with the same contents.
    /// </summary>
    private void Rebuild(int lo, int hi)
    {
        var values = SelectRanks(lo, hi);
        var span = _data.AsSpan(lo, hi - lo);
        for (var i = 0; i < values.Length; i++)
        {
            span[i] = ~values[i];
        }

        drone.LockAcquire(RebuildLock);
        drone.LockRelease(RebuildLock);
        values.CopyTo(_data.AsSpan(lo, hi - lo));
        Rebuilt++;
    }

    /// <summary>The input elements of sorted positions [lo, hi), in input order of selection (not sorted).</summary>
    private int[] SelectRanks(int lo, int hi)
    {
        _input ??= QuickSortApp.Input(count, seed);
        var work = (int[])_input.Clone();
        Select(work, 0, work.Length, lo);
        if (hi < work.Length)
        {
            Select(work, lo, work.Length, hi);
        }

        return work[lo..hi];
    }

    /// <summary>Quickselect: afterwards every element of [start, k) is at most every element of [k, end).</summary>
    private static void Select(int[] values, int start, int end, int k)
    {
        while (end - start > 1 && k > start && k < end)
        {
            var split = start + Partitioner.Partition(values.AsSpan(start, end - start));
            if (k < split)
            {
                end = split;
            }
            else
            {
                start = split;
            }
        }
    }

    /// <summary>
    /// Takes the newest task this drone pushed, whose pages its copy most likely holds up to date; when it pushed
    /// none, the newest task of any drone (the smallest part waiting, so a steal moves little data).
    /// </summary>
    private (int Lo, int Hi, int View, int Pusher)? Pop()
    {
        var tasks = drone.Heap.Read<int>(layout.TaskCountAddress);
        if (tasks == 0)
        {
            return null;
        }

        var take = tasks - 1;
        for (var slot = tasks - 1; slot >= 0; slot--)
        {
            if (drone.Heap.Read<int>(layout.TaskAddress(slot) + 12) == drone.Id)
            {
                take = slot;
                break;
            }
        }

        var address = layout.TaskAddress(take);
        var task = (drone.Heap.Read<int>(address), drone.Heap.Read<int>(address + 4), drone.Heap.Read<int>(address + 8), drone.Heap.Read<int>(address + 12));
        for (var slot = take + 1; slot < tasks; slot++)
        {
            // Close the gap: the tasks above move down one slot, keeping their order.
            for (var field = 0; field < QuickSortLayout.TaskBytes; field += 4)
            {
                drone.Heap.Write(layout.TaskAddress(slot - 1) + field, drone.Heap.Read<int>(layout.TaskAddress(slot) + field));
            }
        }

        drone.Heap.Write(layout.TaskCountAddress, tasks - 1);
        return task;
    }

    private void PushTask(int lo, int hi, int view, int pusher)
    {
        var tasks = drone.Heap.Read<int>(layout.TaskCountAddress);
        if (tasks >= layout.TaskCapacity)
        {
            throw new InvalidOperationException(
                $"Drone {drone.Id}: the task queue of {layout.TaskCapacity} slots is full pushing [{lo}, {hi}).");
        }

        var slot = layout.TaskAddress(tasks);
        drone.Heap.Write(slot, lo);
        drone.Heap.Write(slot + 4, hi);
        drone.Heap.Write(slot + 8, view);
        drone.Heap.Write(slot + 12, pusher);
        drone.Heap.Write(layout.TaskCountAddress, tasks + 1);
    }

    private void AddOwned(int lo, int hi)
    {
        var owned = drone.Heap.Read<int>(layout.OwnedCountAddress(drone.Id));
        if (owned >= layout.OwnedCapacity)
        {
            throw new InvalidOperationException($"Drone {drone.Id}: its table of {layout.OwnedCapacity} held ranges is full adding [{lo}, {hi}).");
        }

        var address = layout.OwnedAddress(drone.Id, owned);
        drone.Heap.Write(address, lo);
        drone.Heap.Write(address + 4, hi);
        drone.Heap.Write(layout.OwnedCountAddress(drone.Id), owned + 1);
    }

    /// <summary>Takes a part pushed back out of the held range that contains it (which may split in two).</summary>
    private void RemoveOwned(int lo, int hi)
    {
        var owned = drone.Heap.Read<int>(layout.OwnedCountAddress(drone.Id));
        for (var slot = 0; slot < owned; slot++)
        {
            var address = layout.OwnedAddress(drone.Id, slot);
            var (heldLo, heldHi) = (drone.Heap.Read<int>(address), drone.Heap.Read<int>(address + 4));
            if (heldLo > lo || heldHi < hi)
            {
                continue;
            }

            // Keep the left rest in this slot (or the last slot's range when nothing is left), add the right rest.
            if (heldLo < lo)
            {
                drone.Heap.Write(address + 4, lo);
            }
            else
            {
                var last = layout.OwnedAddress(drone.Id, owned - 1);
                drone.Heap.Write(address, drone.Heap.Read<int>(last));
                drone.Heap.Write(address + 4, drone.Heap.Read<int>(last + 4));
                drone.Heap.Write(layout.OwnedCountAddress(drone.Id), owned - 1);
            }

            if (hi < heldHi)
            {
                AddOwned(hi, heldHi);
            }

            return;
        }

        throw new InvalidOperationException($"Drone {drone.Id}: pushed [{lo}, {hi}), which is in none of the ranges it holds.");
    }
}

/// <summary>Where a drone can be made to stop for a failure test.</summary>
internal enum StallPoint
{
    /// <summary>Holding the queue lock, right after taking a task.</summary>
    QueueLock,

    /// <summary>Right after partitioning a range, with the writes not yet released.</summary>
    Partition,

    /// <summary>Before arriving at the barrier after the sort.</summary>
    Barrier,
}

/// <summary>
/// Fault injection for the failure tests: drone <paramref name="Drone"/> stops for good (prints a line and sleeps
/// until killed) the <paramref name="Nth"/> time it reaches <paramref name="Point"/>.
/// </summary>
internal sealed class Stall(StallPoint Point, int Drone, int Nth)
{
    private int _reached;

    /// <summary>Parses POINT:DRONE:NTH; throws <see cref="OptionsException"/> naming --stall-at.</summary>
    public static Stall Parse(string text)
    {
        var parts = text.Split(':');
        StallPoint? point = parts[0] switch
        {
            "queue-lock" => StallPoint.QueueLock,
            "partition" => StallPoint.Partition,
            "barrier" => StallPoint.Barrier,
            _ => null,
        };
        if (parts.Length != 3 || point is null
            || !int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var drone)
            || !int.TryParse(parts[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var nth) || nth < 1)
        {
            throw new OptionsException($"--stall-at: '{text}' is not POINT:DRONE:NTH with POINT queue-lock, partition or barrier and NTH at least 1.");
        }

        return new Stall(point.Value, drone, nth);
    }

    public void At(StallPoint point, int drone)
    {
        if (point != Point || drone != Drone || ++_reached != Nth)
        {
            return;
        }

        Console.WriteLine($"STALL drone {drone} at {point} pid={Environment.ProcessId}");
        Console.Out.Flush();
        Thread.Sleep(Timeout.Infinite);
    }
}
