using System.Globalization;

namespace HiveMind.Apps.Sor;

/// <summary>
/// Red-black successive over-relaxation (TreadMarks' SOR) as a drone program: the grid is shared, each drone updates a
/// band of rows, and a barrier ends every half-sweep; a drone reads only the edge rows of its neighbours' bands. Drone 0
/// also runs the same computation sequentially on a private grid (before the drones) and compares the two bit for bit.
/// </summary>
public static class SorApp
{
    private const int StartBarrier = 0;
    private const int ReadyBarrier = 5;
    private const int TimedBarrier = 3;

    /// <summary>Runs SOR as this process's drone (started by <see cref="Tmk.Run{TOptions}"/>); returns the exit code (0: verified).</summary>
    public static int Run(SorOptions options, Drone drone)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(drone);
        var (rows, cols) = (options.Rows, options.Cols);
        var (blocks, slots) = AppRun.Allocate(drone, (long)rows * cols * sizeof(float));
        var grid = drone.Array<float>(blocks[0], rows * cols);
        var (first, end) = Grid.Band(rows, drone.Count, drone.Id);

        // Each drone fills its own band: the first writes are spread like the sweeps.
        Grid.FillBand(grid, drone, rows, options.Seed);
        var (expected, sequential, capacity) = AppRun.Baselines(
            drone,
            ReadyBarrier,
            options.Capacity,
            () =>
            {
                var initial = Grid.Initial(rows, cols, options.Seed);
                SorGrid.Sequential(initial, rows, cols, options.Warmup);
                return initial;
            },
            state => state.ToArray(),
            state => SorGrid.Sequential(state, rows, cols, options.Iterations));

        Tmk.Barrier(StartBarrier);
        Sweep(grid, cols, first, end, options.Warmup);
        var (parallel, messages) = AppRun.Timed(drone, slots, TimedBarrier, () => Sweep(grid, cols, first, end, options.Iterations));

        var exitCode = 0;
        if (drone.Id == 0)
        {
            var mismatch = Grid.Mismatch(grid.AsReadOnlySpan(), expected!, cols);
            exitCode = mismatch is null ? 0 : 1;
            AppReport.Write(
                "red-black SOR",
                drone,
                [("grid", $"{rows} x {cols} floats"), ("iterations (timed, after warm-up)", $"{options.Iterations} (after {options.Warmup})")],
                string.Create(CultureInfo.InvariantCulture, $"rows={rows} cols={cols} iterations={options.Iterations}"),
                new Measured(parallel, sequential, capacity, messages, options.Iterations, "iteration"),
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
