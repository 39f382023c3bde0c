namespace HiveMind.OracleDrone;

/// <summary>
/// Traffic a real program makes every day and the transport must carry without removing a healthy drone or losing a
/// write: large exchanges both ways at once, and pages rewritten many times by turns before one drone reads them all.
/// </summary>
internal static class LoadScenarios
{
    /// <summary>
    /// Every drone writes <paramref name="bytes"/> of its own region, then after a barrier reads the next drone's region
    /// as one span, so that every pair serves the other's large diff requests at the same time. Every word is checked.
    /// </summary>
    public static void Exchange(Drone drone, long bytes)
    {
        var count = drone.Count;
        var words = (int)(bytes / sizeof(long));
        var pageSize = drone.Heap.PageSize;
        var regionBytes = ((bytes + pageSize - 1) / pageSize) * pageSize;
        var base0 = drone.Distribute(drone.Id == 0 ? drone.Malloc(regionBytes * count, pageSize) : 0);
        long Region(int d) => base0 + (d * regionBytes);
        static long Value(int d, int i) => ((long)(d + 1) << 40) | (uint)i;

        var mine = drone.Array<long>(Region(drone.Id), words).AsSpan();
        for (var i = 0; i < words; i++)
        {
            mine[i] = Value(drone.Id, i);
        }

        drone.Barrier(0);
        var other = (drone.Id + 1) % count;
        var theirs = drone.Array<long>(Region(other), words).AsReadOnlySpan();
        for (var i = 0; i < words; i++)
        {
            if (theirs[i] != Value(other, i))
            {
                throw new InvalidOperationException(
                    $"drone {drone.Id} reads 0x{theirs[i]:X} at 0x{Region(other) + (8L * i):X} (drone {other}'s word {i}) after the barrier, expected 0x{Value(other, i):X}");
            }
        }

        drone.Barrier(1);
    }

    /// <summary>
    /// Drones 1 and 2 take turns under one lock, each rewriting every word of the same <paramref name="pages"/> pages
    /// <paramref name="rounds"/> times; drone 0 then reads all the pages as one span, so that one writer owes it many
    /// whole-page diffs of every page at once. Needs 3 drones or more; the others only meet at the barriers.
    /// </summary>
    public static void Rewrite(Drone drone, int pages, int rounds)
    {
        if (drone.Count < 3)
        {
            throw new InvalidOperationException($"drone {drone.Id}: the rewrite scenario needs 3 drones or more, not {drone.Count}.");
        }

        const int Lock = 1, TurnLock = 2;
        var pageSize = drone.Heap.PageSize;
        var words = pages * (pageSize / sizeof(long));
        var area = drone.Distribute(drone.Id == 0 ? drone.Malloc((long)pages * pageSize, pageSize) : 0);
        var turn = drone.Distribute(drone.Id == 0 ? drone.Malloc(8, 8) : 0);
        var xs = drone.Array<long>(area, words);
        var next = drone.Array<long>(turn, 1);
        static long Value(int writer, int round, int i) => ((long)writer << 56) | ((long)round << 32) | (uint)i;
        if (drone.Id is 1 or 2)
        {
            // Round r is drone 1's when r is even, drone 2's when odd: each waits under the turn lock for its round.
            for (var round = drone.Id - 1; round < rounds; round += 2)
            {
                while (true)
                {
                    drone.LockAcquire(TurnLock);
                    var due = next[0];
                    drone.LockRelease(TurnLock);
                    if (due == round)
                    {
                        break;
                    }

                    Thread.Yield();
                }

                drone.LockAcquire(Lock);
                var span = xs.AsSpan();
                for (var i = 0; i < words; i++)
                {
                    span[i] = Value(drone.Id, round, i);
                }

                drone.LockRelease(Lock);
                drone.LockAcquire(TurnLock);
                next[0] = round + 1;
                drone.LockRelease(TurnLock);
            }
        }

        drone.Barrier(0);
        if (drone.Id == 0)
        {
            var last = rounds - 1;
            var writer = (last % 2) + 1;
            var all = xs.AsReadOnlySpan();
            for (var i = 0; i < words; i++)
            {
                if (all[i] != Value(writer, last, i))
                {
                    throw new InvalidOperationException(
                        $"drone 0 reads 0x{all[i]:X} at 0x{area + (8L * i):X} (page {(area + (8L * i)) / pageSize}) after {rounds} rewrites, expected drone {writer}'s last 0x{Value(writer, last, i):X}");
                }
            }
        }

        drone.Barrier(1);
    }

    /// <summary>
    /// A healthy phase far longer than the failure timeout: the last drone computes for <paramref name="milliseconds"/>
    /// between two barriers (busy, not sleeping) while the others wait at the second. Nobody may be taken for failed.
    /// </summary>
    public static void LongPhase(Drone drone, int milliseconds)
    {
        var area = drone.Distribute(drone.Id == 0 ? drone.Malloc(8L * drone.Count, 8) : 0);
        var xs = drone.Array<long>(area, drone.Count);
        drone.Barrier(0);
        long work = 0;
        if (drone.Id == drone.Count - 1)
        {
            var until = Environment.TickCount64 + milliseconds;
            while (Environment.TickCount64 < until)
            {
                for (var i = 0; i < 100_000; i++)
                {
                    work += i ^ (work >> 3);
                }
            }
        }

        xs[drone.Id] = drone.Id + 1 + (work & 0);
        drone.Barrier(1);
        for (var d = 0; d < drone.Count; d++)
        {
            if (xs[d] != d + 1)
            {
                throw new InvalidOperationException($"drone {drone.Id} reads {xs[d]} at 0x{xs.AddressOf(d):X} (drone {d}'s word) after the long phase, expected {d + 1}");
            }
        }

        if (drone.ViewNumber != 0)
        {
            throw new InvalidOperationException($"drone {drone.Id} is in view {drone.ViewNumber} after a healthy long phase: live {string.Join(',', drone.View.Live)}, removed {string.Join(',', drone.View.Removed)}");
        }
    }
}
