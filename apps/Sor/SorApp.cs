using System.Diagnostics;
using System.Globalization;

namespace HiveMind.Apps.Sor;

/// <summary>
/// Red-black successive over-relaxation (TreadMarks' SOR) as a drone program: the grid is shared, each drone updates a
/// band of rows, and a barrier ends every half-sweep; a drone reads only the edge rows of its neighbours' bands. Drone 0
/// then runs the same computation sequentially on a private grid and compares the two bit for bit.
/// </summary>
public static class SorApp
{
    private const int StartBarrier = 0;
    private const int ReadyBarrier = 5;
    private const int TimedBarrier = 3;
    private const int DoneBarrier = 4;

    /// <summary>Runs SOR as this process's drone (started by <see cref="Tmk.Run{TOptions}"/>); returns the exit code (0: verified).</summary>
    public static int Run(SorOptions options, Drone drone)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(drone);
        var (rows, cols) = (options.Rows, options.Cols);
        var cellBytes = (long)rows * cols * sizeof(float);

        // The grid, then one message count per drone slot.
        var address = Tmk.Distribute(drone.Id == 0 ? drone.Malloc(cellBytes + (8L * drone.MaxDrones), drone.Heap.PageSize) : 0);
        var grid = drone.Array<float>(address, rows * cols);
        var (first, end) = Grid.Band(rows, drone.Count, drone.Id);

        // Each drone fills its own band (and drone 0 the top and bottom rows): the first writes are spread like the sweeps.
        for (var r = first; r < end; r++)
        {
            Grid.Fill(grid.AsSpan(r * cols, cols), r, rows, options.Seed);
        }

        if (drone.Id == 0)
        {
            Grid.Fill(grid.AsSpan(0, cols), 0, rows, options.Seed);
            Grid.Fill(grid.AsSpan((rows - 1) * cols, cols), rows - 1, rows, options.Seed);
        }

        // The baselines run first, on drone 0 while the others wait at the barrier, once every drone has set up: after the
        // timed part, or beside the others' set-up, drones beyond the machine's cores would slow them down.
        Tmk.Barrier(ReadyBarrier);
        var expected = Array.Empty<float>();
        var (sequential, capacity) = (TimeSpan.Zero, (double?)null);
        if (drone.Id == 0)
        {
            expected = new float[rows * cols];
            for (var r = 0; r < rows; r++)
            {
                Grid.Fill(expected.AsSpan(r * cols, cols), r, rows, options.Seed);
            }

            var copies = options.Capacity ? Enumerable.Range(0, Environment.ProcessorCount).Select(_ => expected.ToArray()).ToArray() : [];
            SorGrid.Sequential(expected, rows, cols, options.Warmup);
            var sequentialStarted = Stopwatch.GetTimestamp();
            SorGrid.Sequential(expected, rows, cols, options.Iterations);
            sequential = Stopwatch.GetElapsedTime(sequentialStarted);
            capacity = options.Capacity
                ? Capacity.Measure(copy => SorGrid.Sequential(copies[copy], rows, cols, options.Warmup + options.Iterations), sequential * ((double)(options.Warmup + options.Iterations) / Math.Max(1, options.Iterations)))
                : null;
        }

        Tmk.Barrier(StartBarrier);
        Sweep(grid, cols, first, end, options.Warmup);
        Tmk.Barrier(TimedBarrier);
        var started = Stopwatch.GetTimestamp();
        var messagesBefore = drone.MessagesSent;
        Sweep(grid, cols, first, end, options.Iterations);
        drone.Heap.Write(address + cellBytes + (8L * drone.Id), drone.MessagesSent - messagesBefore);
        Tmk.Barrier(DoneBarrier);
        var parallel = Stopwatch.GetElapsedTime(started);

        var exitCode = 0;
        if (drone.Id == 0)
        {
            var mismatch = Grid.Mismatch(grid.AsReadOnlySpan(), expected, cols);
            exitCode = mismatch is null ? 0 : 1;
            AppReport.Write(
                "red-black SOR",
                drone,
                [("grid", $"{rows} x {cols} floats"), ("iterations (timed, after warm-up)", $"{options.Iterations} (after {options.Warmup})")],
                string.Create(CultureInfo.InvariantCulture, $"rows={rows} cols={cols} iterations={options.Iterations}"),
                new Measured(parallel, sequential, capacity, AppReport.SumSlots(drone, address + cellBytes), options.Iterations, "iteration"),
                mismatch);
        }

        Tmk.Exit();
        return exitCode;
    }

    /// <summary><paramref name="iterations"/> red and black half-sweeps of this drone's band, a barrier after each.</summary>
    private static void Sweep(SharedArray<float> grid, int cols, int first, int end, int iterations)
    {
        for (var i = 0; i < iterations; i++)
        {
            for (var color = 0; color < 2; color++)
            {
                // Spans are taken after the barrier that starts the half-sweep and dropped before the next one.
                for (var r = first; r < end; r++)
                {
                    SorGrid.HalfSweepRow(grid.AsReadOnlySpan((r - 1) * cols, cols), grid.AsSpan(r * cols, cols), grid.AsReadOnlySpan((r + 1) * cols, cols), r, color);
                }

                Tmk.Barrier(1 + color);
            }
        }
    }
}
