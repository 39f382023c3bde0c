using System.Globalization;

namespace HiveMind.Apps.Tsp;

/// <summary>
/// TreadMarks' TSP as a drone program: branch and bound over a shared stack of partial tours (one lock) and a shared
/// best tour (another lock). A drone takes a partial tour; a short one goes back as its extensions that the bound does
/// not cut, a long one the drone searches itself, refreshing its bound from the shared one at every task and offering
/// each better tour it finds. Drone 0 also runs the same search sequentially (before the drones) and compares the lengths.
/// </summary>
public static class TspApp
{
    private const int QueueLock = 0;
    private const int BoundLock = 1;
    private const int StartBarrier = 0;
    private const int ReadyBarrier = 2;

    // Header words: tasks in the stack, drones extending a task, the best length, then the best tour.
    private const int CountWord = 0;
    private const int ActiveWord = 1;
    private const int BestWord = 2;
    private const int TourWord = 3;

    /// <summary>Runs TSP as this process's drone (started by <see cref="Tmk.Run{TOptions}"/>); returns the exit code (0: verified).</summary>
    public static int Run(TspOptions options, Drone drone)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(drone);
        var tour = new Tour(options.Cities, options.Seed);
        var cities = options.Cities;
        var taskWords = 2 + cities;
        var capacity = (int)StackCapacity(cities, options.SplitDepth);
        var headerWords = TourWord + cities;

        // The header (with the best tour) on a page of its own, then the stack of tasks.
        var (blocks, slots) = AppRun.Allocate(drone, 4L * headerWords, 4L * taskWords * capacity);
        var shared = drone.Array<int>(blocks[0], headerWords);
        var stack = drone.Array<int>(blocks[1], taskWords * capacity);
        if (drone.Id == 0)
        {
            shared[BestWord] = int.MaxValue;
            shared[CountWord] = 1;
            var root = stack.AsSpan(0, taskWords);
            root.Clear();
            root[0] = 1; // depth: city 0 only, length 0
        }

        var (expected, sequential, capacityFigure) = AppRun.Baselines(
            drone, ReadyBarrier, options.Capacity, () => new Best(cities), _ => new Best(cities), best => best.Length = tour.Sequential(best.Tour));
        var (parallel, messages) = AppRun.Timed(drone, slots, StartBarrier, () => Work(tour, options.SplitDepth, shared, stack, taskWords, capacity));

        var exitCode = 0;
        if (drone.Id == 0)
        {
            var best = shared[BestWord];
            var found = shared.AsReadOnlySpan(TourWord, cities).ToArray();
            var mismatch =
                best != expected!.Length ? $"shortest tour {best}, sequential {expected.Length}"
                : !found.Order().SequenceEqual(Enumerable.Range(0, cities)) || found[0] != 0 ? $"the best tour [{string.Join(",", found)}] is not a tour of the {cities} cities from city 0"
                : tour.Length(found) != best ? $"the best tour [{string.Join(",", found)}] is {tour.Length(found)} long, not the {best} recorded"
                : null;
            exitCode = mismatch is null ? 0 : 1;
            AppReport.Write(
                "TSP",
                drone,
                [("cities", $"{cities} (seed {options.Seed}), tasks split to depth {options.SplitDepth}"), ("shortest tour", $"{best}: {string.Join(" ", found)}")],
                string.Create(CultureInfo.InvariantCulture, $"cities={cities} length={best}"),
                new Measured(parallel, sequential, capacityFigure, messages, 1, "search"),
                mismatch);
        }

        Tmk.Exit();
        return exitCode;
    }

    /// <summary>The sequential search's result: the shortest tour and its length.</summary>
    private sealed class Best(int cities)
    {
        public int[] Tour { get; } = new int[cities];

        public int Length { get; set; }
    }

    /// <summary>The most partial tours the shared stack is made for.</summary>
    internal const long MaxStack = 1_000_000;

    /// <summary>Partial tours the stack may hold at once: every partial tour up to the split depth (MaxStack + 1 for "more").</summary>
    internal static long StackCapacity(int cities, int splitDepth)
    {
        long total = 0, level = 1;
        for (var depth = 1; depth <= splitDepth && total <= MaxStack; depth++)
        {
            total += level;
            level *= cities - depth;
        }

        return Math.Min(total, MaxStack + 1);
    }

    /// <summary>This drone's part: takes tasks until the stack is empty and nobody is extending one.</summary>
    private static void Work(Tour tour, int splitDepth, SharedArray<int> shared, SharedArray<int> stack, int taskWords, int capacity)
    {
        var cities = tour.Cities;
        var path = new int[cities];
        var bestTour = new int[cities];
        var children = new List<(int Length, int City)>();
        while (true)
        {
            // Take the top task, or learn that the search is over.
            Tmk.LockAcquire(QueueLock);
            var count = shared[CountWord];
            if (count == 0)
            {
                var active = shared[ActiveWord];
                Tmk.LockRelease(QueueLock);
                if (active == 0)
                {
                    return;
                }

                Thread.Yield(); // another drone is extending a task: its extensions are coming
                continue;
            }

            var task = stack.AsReadOnlySpan((count - 1) * taskWords, taskWords);
            var (depth, length) = (task[0], task[1]);
            task[2..].CopyTo(path);
            shared[CountWord] = count - 1;
            if (depth < splitDepth)
            {
                shared[ActiveWord]++;
            }

            Tmk.LockRelease(QueueLock);

            var best = Bound(shared);
            if (depth < splitDepth)
            {
                // Its extensions that the bound does not cut go back to the stack.
                children.Clear();
                var unvisited = Tour.Unvisited(path, depth, cities);
                var last = path[depth - 1];
                for (var c = 1; c < cities; c++)
                {
                    if ((unvisited & (1 << c)) != 0 && length + tour.Distance(last, c) + tour.Rest(c, unvisited & ~(1 << c)) < best)
                    {
                        children.Add((length + tour.Distance(last, c), c));
                    }
                }

                Tmk.LockAcquire(QueueLock);
                count = shared[CountWord];
                if (count + children.Count > capacity)
                {
                    throw new InvalidOperationException($"the stack of {capacity} partial tours overflowed");
                }

                foreach (var (childLength, city) in children)
                {
                    var slot = stack.AsSpan(count++ * taskWords, taskWords);
                    slot[0] = depth + 1;
                    slot[1] = childLength;
                    path.AsSpan(0, depth).CopyTo(slot[2..]);
                    slot[2 + depth] = city;
                }

                shared[CountWord] = count;
                shared[ActiveWord]--;
                Tmk.LockRelease(QueueLock);
            }
            else
            {
                tour.Search(path, depth, length, ref best, bestTour, (whole, better) => Offer(shared, whole, better));
            }
        }
    }

    /// <summary>The shared best length, read under its lock.</summary>
    private static int Bound(SharedArray<int> shared)
    {
        Tmk.LockAcquire(BoundLock);
        var best = shared[BestWord];
        Tmk.LockRelease(BoundLock);
        return best;
    }

    /// <summary>Offers a whole tour: it becomes the shared best if it is shorter; returns the best length now known.</summary>
    private static int Offer(SharedArray<int> shared, int length, int[] tour)
    {
        Tmk.LockAcquire(BoundLock);
        var best = shared[BestWord];
        if (length < best)
        {
            shared[BestWord] = best = length;
            tour.AsSpan().CopyTo(shared.AsSpan(TourWord, tour.Length));
        }

        Tmk.LockRelease(BoundLock);
        return best;
    }
}
