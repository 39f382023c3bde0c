using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace HiveMind.Apps.QuickSort;

/// <summary>The QuickSort drone program: builds the input, sorts it on the drones, verifies it and reports.</summary>
public static class QuickSortApp
{
    /// <summary>Runs QuickSort as this process's drone; returns the process exit code (0: sorted and verified).</summary>
    public static int Run(QuickSortOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var drone = Tmk.Startup(options);
        var pageSize = drone.Heap.PageSize;
        var capacity = QuickSortLayout.CapacityFor(options.Count, options.Threshold);

        // Drone 0 allocates and seeds; everyone learns the addresses through Distribute.
        var array = Tmk.Distribute(drone.Id == 0 ? drone.Malloc(options.Count * 4L, pageSize) : 0);
        var queue = Tmk.Distribute(drone.Id == 0 ? drone.Malloc(QuickSortLayout.HeaderBytes + (capacity * (long)QuickSortLayout.TaskBytes), pageSize) : 0);
        var layout = new QuickSortLayout(array, queue, capacity);
        var shareAbove = options.ShareAbove > 0 ? options.ShareAbove : Math.Max(options.Threshold + 1, options.Count / (drone.Count * 16));
        var sort = new DroneQuickSort(drone, layout, options.Count, options.Threshold, shareAbove);

        int[]? sequentialInput = null;
        var inputChecksum = default(Checksum);
        if (drone.Id == 0)
        {
            var data = drone.Array<int>(array, options.Count).AsSpan();
            var random = new Random(options.Seed);
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = random.Next(int.MinValue, int.MaxValue);
            }

            sequentialInput = data.ToArray();
            inputChecksum = Checksum.Of(data);
            sort.Seed();
        }

        Tmk.Barrier(0);
        var started = Stopwatch.GetTimestamp();
        RunWithProgress(options, drone, sort);
        Tmk.Barrier(1);
        var parallel = Stopwatch.GetElapsedTime(started);

        var exitCode = 0;
        if (drone.Id == 0)
        {
            var result = drone.Array<int>(array, options.Count).AsReadOnlySpan();
            var unsorted = FirstUnsorted(result);
            var outputChecksum = Checksum.Of(result);

            var sequentialStarted = Stopwatch.GetTimestamp();
            Partitioner.SortSequential(sequentialInput!, options.Threshold);
            var sequential = Stopwatch.GetElapsedTime(sequentialStarted);

            var sortedOk = unsorted < 0;
            var sameMultiset = outputChecksum == inputChecksum;
            exitCode = sortedOk && sameMultiset ? 0 : 1;
            Report(options, drone, parallel, sequential, sortedOk, unsorted, result, sameMultiset, inputChecksum, outputChecksum);
        }

        Tmk.Exit();
        return exitCode;
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

    private static void Report(
        QuickSortOptions options, Drone drone, TimeSpan parallel, TimeSpan sequential, bool sortedOk, int unsorted,
        ReadOnlySpan<int> result, bool sameMultiset, Checksum input, Checksum output)
    {
        var speedup = sequential.TotalSeconds / parallel.TotalSeconds;
        var table = new Table().Border(TableBorder.Rounded).AddColumns("QuickSort", "value");
        table.AddRow("elements", options.Count.ToString("N0", CultureInfo.InvariantCulture));
        table.AddRow("drones", drone.Count.ToString(CultureInfo.InvariantCulture));
        table.AddRow("threshold", options.Threshold.ToString(CultureInfo.InvariantCulture));
        table.AddRow("seed", options.Seed.ToString(CultureInfo.InvariantCulture));
        table.AddRow("time on drones", $"{parallel.TotalMilliseconds:F1} ms");
        table.AddRow("sequential sort, same data and algorithm", $"{sequential.TotalMilliseconds:F1} ms");
        table.AddRow("speedup", $"{speedup:F2}x");
        table.AddRow("sorted", sortedOk ? "yes" : $"NO: element {unsorted} ({result[unsorted]}) is below element {unsorted - 1} ({result[unsorted - 1]})");
        table.AddRow("same multiset as input", sameMultiset ? $"yes ({output})" : $"NO: input {input}, output {output}");
        AnsiConsole.Write(table);
        AnsiConsole.WriteLine(sortedOk && sameMultiset ? "VERIFIED" : "VERIFICATION FAILED");

        // One line for scripts (bench/speedup.sh).
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"RESULT drones={drone.Count} elements={options.Count} parallel_ms={parallel.TotalMilliseconds:F1} sequential_ms={sequential.TotalMilliseconds:F1} speedup={speedup:F3} verified={(sortedOk && sameMultiset ? 1 : 0)}"));
    }
}
