using System.Diagnostics;
using System.Globalization;

namespace HiveMind.Apps.IntegerSort;

/// <summary>
/// Integer sort (TreadMarks' IS) as a drone program: each drone counts the keys of its slice in a private histogram and
/// adds it to the shared one under a lock (the first drone of a ranking clears it), a barrier, then each ranks its
/// slice from the shared counts. Drone 0 then ranks the same keys sequentially in private memory and compares.
/// </summary>
public static class IntegerSortApp
{
    private const int StartBarrier = 0;
    private const int ReadyBarrier = 4;
    private const int SummedBarrier = 1;
    private const int RankedBarrier = 2;
    private const int TimedBarrier = 3;
    private const int BucketsLock = 0;

    /// <summary>Runs IS as this process's drone (started by <see cref="Tmk.Run{TOptions}"/>); returns the exit code (0: verified).</summary>
    public static int Run(IntegerSortOptions options, Drone drone)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(drone);
        var (count, maxKey) = (options.Keys, options.MaxKey);
        var page = drone.Heap.PageSize;

        // Keys, ranks, and the buckets behind a header (the ranking they hold) and a message count per drone slot.
        var keysAddress = Tmk.Distribute(drone.Id == 0 ? drone.Malloc(count * 4L, page) : 0);
        var ranksAddress = Tmk.Distribute(drone.Id == 0 ? drone.Malloc(count * 4L, page) : 0);
        var shared = Tmk.Distribute(drone.Id == 0 ? drone.Malloc(8 + (8L * drone.MaxDrones) + (maxKey * 4L), page) : 0);
        var (header, slots, bucketsAddress) = (shared, shared + 8, shared + 8 + (8L * drone.MaxDrones));
        var keys = drone.Array<int>(keysAddress, count);
        var ranks = drone.Array<int>(ranksAddress, count);
        var buckets = drone.Array<int>(bucketsAddress, maxKey);
        var (first, end) = Ranking.Slice(count, drone.Count, drone.Id);

        var mine = keys.AsSpan(first, end - first);
        for (var i = 0; i < mine.Length; i++)
        {
            mine[i] = Ranking.Key(first + i, maxKey, options.Seed);
        }

        // The baselines run first, on drone 0 while the others wait at the barrier, once every drone has set up: after the
        // timed part, or beside the others' set-up, drones beyond the machine's cores would slow them down.
        Tmk.Barrier(ReadyBarrier);
        var (privateKeys, expected) = (Array.Empty<int>(), Array.Empty<int>());
        var (sequential, capacity) = (TimeSpan.Zero, (double?)null);
        if (drone.Id == 0 && options.Warmup + options.Iterations > 0)
        {
            privateKeys = Enumerable.Range(0, count).Select(i => Ranking.Key(i, maxKey, options.Seed)).ToArray();
            expected = new int[count];
            Ranking.Sequential(privateKeys, maxKey, 0, options.Warmup, expected);
            var sequentialStarted = Stopwatch.GetTimestamp();
            Ranking.Sequential(privateKeys, maxKey, options.Warmup, options.Warmup + options.Iterations, expected);
            sequential = Stopwatch.GetElapsedTime(sequentialStarted);
            if (options.Capacity)
            {
                var copies = Enumerable.Range(0, Environment.ProcessorCount).Select(_ => (Keys: privateKeys.ToArray(), Ranks: new int[count])).ToArray();
                capacity = Capacity.Measure(c => Ranking.Sequential(copies[c].Keys, maxKey, options.Warmup, options.Warmup + options.Iterations, copies[c].Ranks), sequential);
            }
        }

        Tmk.Barrier(StartBarrier);
        var histogram = new int[maxKey];
        var below = new int[maxKey];
        RankAll(drone, options, 0, options.Warmup, (first, end), (keys, ranks, buckets, header), histogram, below);
        Tmk.Barrier(TimedBarrier);
        var started = Stopwatch.GetTimestamp();
        var messagesBefore = drone.MessagesSent;
        RankAll(drone, options, options.Warmup, options.Warmup + options.Iterations, (first, end), (keys, ranks, buckets, header), histogram, below);
        drone.Heap.Write(slots + (8L * drone.Id), drone.MessagesSent - messagesBefore);
        Tmk.Barrier(TimedBarrier);
        var parallel = Stopwatch.GetElapsedTime(started);

        var exitCode = 0;
        if (drone.Id == 0 && options.Warmup + options.Iterations > 0)
        {
            var result = ranks.AsReadOnlySpan();
            var mismatch = result.CommonPrefixLength(expected);
            exitCode = mismatch == count ? 0 : 1;
            AppReport.Write(
                "integer sort",
                drone,
                [("keys", $"{count:N0} in [0, {maxKey:N0})"), ("rankings (timed, after warm-up)", $"{options.Iterations} (after {options.Warmup})")],
                string.Create(CultureInfo.InvariantCulture, $"keys={count} max_key={maxKey} iterations={options.Iterations}"),
                new Measured(parallel, sequential, capacity, AppReport.SumSlots(drone, slots), options.Iterations, "ranking"),
                mismatch == count ? null : $"key {mismatch} ({Ranking.KeyIn(privateKeys, mismatch, options.Warmup + options.Iterations - 1, maxKey)}) ranked {result[mismatch]}, sequential {expected[mismatch]}");
        }

        Tmk.Exit();
        return exitCode;
    }

    /// <summary>Rankings <paramref name="from"/>.. <paramref name="to"/> − 1 of this drone's slice: histogram, sum under the lock, barrier, ranks, barrier.</summary>
    private static void RankAll(
        Drone drone, IntegerSortOptions options, int from, int to, (int First, int End) slice, (SharedArray<int> Keys, SharedArray<int> Ranks, SharedArray<int> Buckets, long Header) shared, int[] histogram, int[] below)
    {
        var (first, end) = slice;
        for (var it = from; it < to; it++)
        {
            Ranking.Histogram(shared.Keys.AsReadOnlySpan(first, end - first), it, options.MaxKey, histogram);
            Tmk.LockAcquire(BucketsLock);
            var buckets = shared.Buckets.AsSpan();
            if (drone.Heap.Read<int>(shared.Header) != it + 1)
            {
                // The first drone of this ranking: the counts of the last one go.
                buckets.Clear();
                drone.Heap.Write(shared.Header, it + 1);
            }

            for (var b = 0; b < buckets.Length; b++)
            {
                buckets[b] += histogram[b];
            }

            Tmk.LockRelease(BucketsLock);
            Tmk.Barrier(SummedBarrier);
            Ranking.Below(shared.Buckets.AsReadOnlySpan(), below);
            Ranking.Rank(shared.Keys.AsReadOnlySpan(first, end - first), it, options.MaxKey, below, shared.Ranks.AsSpan(first, end - first));
            Tmk.Barrier(RankedBarrier);
        }
    }
}
