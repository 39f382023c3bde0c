using System.Globalization;

namespace HiveMind.Apps.IntegerSort;

/// <summary>
/// Integer sort (TreadMarks' IS) as a drone program: each drone counts the keys of its slice in a private histogram and
/// adds it to the shared one under a lock (the first drone of a ranking clears it), a barrier, then each ranks its
/// slice from the shared counts. Drone 0 also ranks the same keys sequentially in private memory (before the drones, see
/// AppRun.Baselines) and compares.
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

        // Keys, ranks, and the buckets behind a header word (the ranking they hold).
        var (blocks, slots) = AppRun.Allocate(drone, count * 4L, count * 4L, 8 + (maxKey * 4L));
        var header = blocks[2];
        var keys = drone.Array<int>(blocks[0], count);
        var ranks = drone.Array<int>(blocks[1], count);
        var buckets = drone.Array<int>(header + 8, maxKey);
        var (first, end) = Ranking.Slice(count, drone.Count, drone.Id);

        var mine = keys.AsSpan(first, end - first);
        for (var i = 0; i < mine.Length; i++)
        {
            mine[i] = Ranking.Key(first + i, maxKey, options.Seed);
        }

        var rankings = options.Warmup + options.Iterations;
        var (expected, sequential, capacity) = AppRun.Baselines(
            drone,
            ReadyBarrier,
            options.Capacity,
            () =>
            {
                var state = (Keys: Enumerable.Range(0, count).Select(i => Ranking.Key(i, maxKey, options.Seed)).ToArray(), Ranks: new int[count]);
                Ranking.Sequential(state.Keys, maxKey, 0, options.Warmup, state.Ranks);
                return state;
            },
            state => (state.Keys.ToArray(), new int[count]),
            state => Ranking.Sequential(state.Keys, maxKey, options.Warmup, rankings, state.Ranks));

        Tmk.Barrier(StartBarrier);
        var histogram = new int[maxKey];
        var below = new int[maxKey];
        var shared = (keys, ranks, buckets, header);
        RankAll(drone, options, 0, options.Warmup, (first, end), shared, histogram, below);
        var (parallel, messages) = AppRun.Timed(drone, slots, TimedBarrier, () => RankAll(drone, options, options.Warmup, rankings, (first, end), shared, histogram, below));

        var exitCode = 0;
        if (drone.Id == 0)
        {
            var result = ranks.AsReadOnlySpan();
            var mismatch = result.ToReadOnlySpan().CommonPrefixLength(expected.Ranks);
            exitCode = mismatch == count ? 0 : 1;
            AppReport.Write(
                "integer sort",
                drone,
                [("keys", $"{count:N0} in [0, {maxKey:N0})"), ("rankings (timed, after warm-up)", $"{options.Iterations} (after {options.Warmup})")],
                string.Create(CultureInfo.InvariantCulture, $"keys={count} max_key={maxKey} iterations={options.Iterations}"),
                new Measured(parallel, sequential, capacity, messages, options.Iterations, "ranking"),
                mismatch == count ? null : $"key {mismatch} ({Ranking.KeyIn(expected.Keys, mismatch, rankings - 1, maxKey)}) ranked {result[mismatch]}, sequential {expected.Ranks[mismatch]}");
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

            // A raw span (the conversion checks once; its uses are not checked): the summing loop is timed, and the span
            // is taken after the acquire and used before the release.
            Span<int> buckets = shared.Buckets.AsSpan();
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
