using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace HiveMind.Apps.QuickSort;

/// <summary>The QuickSort drone program: builds the input, sorts it on the drones, verifies it and reports.</summary>
public static class QuickSortApp
{
    // Barriers: the warm-up sort starts at the first, the timed sort at the third, and the second ends the sort.
    private const int WarmupBarrier = 0;
    private const int SortedBarrier = 1;
    private const int SortBarrier = 2;

    /// <summary>Runs QuickSort as this process's drone (started by <see cref="Tmk.Run{TOptions}"/>); returns the process exit code (0: sorted and verified).</summary>
    public static int Run(QuickSortOptions options, Drone drone)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(drone);
        if (drone.JoinedAt is { } joinedAt && joinedAt != WarmupBarrier)
        {
            return RunJoined(options, drone, joinedAt);
        }

        if (!options.NoWarmup && drone.Count > 1 && drone.JoinedAt is null)
        {
            // An untimed sort of a small array first, so that the timed one does not pay for compiling the lock,
            // miss, diff and codec paths the first time each drone takes them (the sequential sort that it is
            // compared with runs warm too: it is the same partitioning code, run after this one).
            var warmCount = WarmupCount(options.Count);
            var (warmLayout, warmSort) = Prepare(drone, warmCount, options.Seed + 1, options.Threshold, 0, stall: null);
            if (drone.Id == 0)
            {
                Input(warmCount, options.Seed + 1).CopyTo(drone.Array<int>(warmLayout.Array, warmCount).AsSpan());
                warmSort.Seed();
            }

            Tmk.Barrier(WarmupBarrier);
            warmSort.Run(_ => { });
        }

        var stall = options.StallAt is { } at ? Stall.Parse(at) : null;
        var (layout, sort) = Prepare(drone, options.Count, options.Seed, options.Threshold, options.ShareAbove, stall);
        var array = layout.Array;

        var inputChecksum = default(Checksum);
        var (sequential, capacity) = (TimeSpan.Zero, (double?)null);
        if (drone.Id == 0)
        {
            var data = drone.Array<int>(array, options.Count).AsSpan();
            var sequentialInput = Input(options.Count, options.Seed);
            sequentialInput.CopyTo(data);

            // The baselines run here, while the other drones wait at the barrier: after the sort, drones beyond the
            // machine's cores still finish their part and would slow them down.
            var copies = options.Capacity ? Enumerable.Range(0, Environment.ProcessorCount).Select(_ => sequentialInput.ToArray()).ToArray() : [];
            var sequentialStarted = Stopwatch.GetTimestamp();
            Partitioner.SortSequential(sequentialInput, options.Threshold);
            sequential = Stopwatch.GetElapsedTime(sequentialStarted);
            capacity = options.Capacity ? Capacity.Measure(copy => Partitioner.SortSequential(copies[copy], options.Threshold), sequential) : null;
            inputChecksum = Checksum.Of(data);
            sort.Seed();
            drone.ForNewcomers = Directory(drone, layout);
            if (options.AwaitJoiners > 0)
            {
                Console.Error.WriteLine($"quicksort: drone 0 waits for {options.AwaitJoiners} joiner(s) before the timed sort");
                if (!drone.WaitForJoiners(options.AwaitJoiners, TimeSpan.FromSeconds(60)))
                {
                    Console.Error.WriteLine($"quicksort: {options.AwaitJoiners} joiner(s) awaited, {drone.PendingJoiners} came within 60 s; sorting without the others.");
                }
            }
        }

        Tmk.Barrier(SortBarrier);
        if (options.SayPhases)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"PHASE drone={drone.Id} sort pid={Environment.ProcessId}"));
        }

        var started = Stopwatch.GetTimestamp();
        var messagesBefore = drone.MessagesSent;
        RunWithProgress(options, drone, sort);
        stall?.At(StallPoint.Barrier, drone.Id);
        drone.Heap.Write(layout.MessagesAddress(drone.Id), drone.MessagesSent - messagesBefore);
        Tmk.Barrier(SortedBarrier);
        var parallel = Stopwatch.GetElapsedTime(started);

        // Drone 0 takes every range in (verification reads them all anyway); ranges of a drone that failed before
        // they reached anyone are sorted again, and then the time until the result is whole counts.
        var redone = false;
        while (drone.Id == 0 && !sort.Settle())
        {
            redone = true;
            sort.Run(_ => { });
        }

        if (redone)
        {
            parallel = Stopwatch.GetElapsedTime(started);
        }

        var exitCode = 0;
        if (drone.Id == 0)
        {
            var result = drone.Array<int>(array, options.Count).AsReadOnlySpan();
            var unsorted = FirstUnsorted(result);
            var outputChecksum = Checksum.Of(result);

            var mismatch =
                unsorted >= 0 ? $"element {unsorted} ({result[unsorted]}) is below element {unsorted - 1} ({result[unsorted - 1]})"
                : outputChecksum != inputChecksum ? $"not the input's multiset: input {inputChecksum}, output {outputChecksum}"
                : null;
            exitCode = mismatch is null ? 0 : 1;
            AppReport.Write(
                "QuickSort",
                drone,
                [("elements", options.Count.ToString("N0", CultureInfo.InvariantCulture)), ("threshold", options.Threshold.ToString(CultureInfo.InvariantCulture)), ("seed", options.Seed.ToString(CultureInfo.InvariantCulture))],
                string.Create(CultureInfo.InvariantCulture, $"elements={options.Count}"),
                new Measured(parallel, sequential, capacity, Enumerable.Range(0, drone.Count).Sum(d => drone.Heap.Read<long>(layout.MessagesAddress(d))), options.Count, "element"),
                mismatch);
        }

        if (drone.JoinedAt is { } joinedWarm)
        {
            ReportJoined(drone, joinedWarm, sort.Sorted);
        }

        Tmk.Exit();
        return exitCode;
    }

    /// <summary>
    /// A drone that joined the running sort: at the barrier that starts the timed sort it takes tasks like any
    /// other (it finds the array and the queue through drone 0's directory block); at the final barrier there is
    /// nothing left to do.
    /// </summary>
    private static int RunJoined(QuickSortOptions options, Drone drone, int joinedAt)
    {
        long sorted = 0;
        if (joinedAt == SortBarrier)
        {
            var directory = drone.ForNewcomers;
            var (_, sort) = Build(drone, drone.Heap.Read<long>(directory), drone.Heap.Read<long>(directory + 8), options.Count, options.Seed, options.Threshold, options.ShareAbove, stall: null);
            sort.Run(_ => { });
            sorted = sort.Sorted;
            Tmk.Barrier(SortedBarrier);
        }

        ReportJoined(drone, joinedAt, sorted);
        Tmk.Exit();
        return 0;
    }

    /// <summary>One line for tests and scripts: which drone joined where, and how much of the sort it did.</summary>
    private static void ReportJoined(Drone drone, int joinedAt, long sorted) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"JOINED drone={drone.Id} barrier={joinedAt} sorted={sorted}"));

    /// <summary>A block of shared memory with the array's and the queue's addresses, for drones that join later.</summary>
    private static long Directory(Drone drone, QuickSortLayout layout)
    {
        var block = drone.Malloc(16);
        drone.Heap.Write(block, layout.Array);
        drone.Heap.Write(block + 8, layout.Queue);
        return block;
    }

    /// <summary>Elements of the warm-up sort: enough pages for range misses and shared tasks, small next to the run.</summary>
    public static int WarmupCount(int count) => Math.Min(count, 1 << 17);

    /// <summary>Drone 0 allocates the array and the task queue; everyone learns the addresses through Distribute.</summary>
    private static (QuickSortLayout Layout, DroneQuickSort Sort) Prepare(Drone drone, int count, int seed, int threshold, int shareAboveOption, Stall? stall)
    {
        var pageSize = drone.Heap.PageSize;
        var array = Tmk.Distribute(drone.Id == 0 ? drone.Malloc(count * 4L, pageSize) : 0);
        var queue = Tmk.Distribute(drone.Id == 0 ? drone.Malloc(QuickSortLayout.QueueBytesFor(count, threshold, drone.MaxDrones), pageSize) : 0);
        return Build(drone, array, queue, count, seed, threshold, shareAboveOption, stall);
    }

    /// <summary>The layout over the array and queue at these addresses (tables for every drone slot), and the sort that works on it.</summary>
    private static (QuickSortLayout Layout, DroneQuickSort Sort) Build(Drone drone, long array, long queue, int count, int seed, int threshold, int shareAboveOption, Stall? stall)
    {
        var layout = new QuickSortLayout(array, queue, QuickSortLayout.CapacityFor(count, threshold), drone.MaxDrones);
        var shareAbove = shareAboveOption > 0 ? shareAboveOption : Math.Max(threshold + 1, count / (drone.Count * 16));
        return (layout, new DroneQuickSort(drone, layout, count, seed, threshold, shareAbove, stall));
    }

    /// <summary>The input: <paramref name="count"/> ints from <paramref name="seed"/>, the same on every drone.</summary>
    internal static int[] Input(int count, int seed)
    {
        var random = new Random(seed);
        var data = new int[count];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = random.Next(int.MinValue, int.MaxValue);
        }

        return data;
    }

    private static void RunWithProgress(QuickSortOptions options, Drone drone, DroneQuickSort sort)
    {
        if (options.NoProgress || drone.Id != 0 || Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            sort.Run(_ => { });
            return;
        }

        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask("sorting", maxValue: options.Count);
                sort.Run(sorted => task.Value = sorted);
            });
    }

    private static int FirstUnsorted(ReadOnlySpan<int> values)
    {
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i - 1] > values[i])
            {
                return i;
            }
        }

        return -1;
    }
}
