using System.Globalization;

namespace HiveMind.Apps.Jacobi;

/// <summary>
/// Jacobi iteration as a drone program: two shared grids, each sweep computes every interior cell of one from the four
/// neighbours in the other (the average), then the grids swap; each drone computes a band of rows, a barrier ends every
/// sweep. A sweep reads only the other grid, so drones and the sequential baseline (drone 0, private grids) agree bit for bit.
/// </summary>
public static class JacobiApp
{
    private const int StartBarrier = 0;
    private const int ReadyBarrier = 3;
    private const int SweptBarrier = 1;
    private const int TimedBarrier = 2;

    /// <summary>Runs Jacobi as this process's drone (started by <see cref="Tmk.Run{TOptions}"/>); returns the exit code (0: verified).</summary>
    public static int Run(JacobiOptions options, Drone drone)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(drone);
        var (rows, cols) = (options.Rows, options.Cols);
        var gridBytes = (long)rows * cols * sizeof(float);
        var (blocks, slots) = AppRun.Allocate(drone, gridBytes, gridBytes);
        SharedArray<float>[] grids = [drone.Array<float>(blocks[0], rows * cols), drone.Array<float>(blocks[1], rows * cols)];
        var band = Grid.Band(rows, drone.Count, drone.Id);

        // Both grids start alike (their borders never change); each drone fills its band.
        Array.ForEach(grids, grid => Grid.FillBand(grid, drone, rows, options.Seed));
        var (expected, sequential, capacity) = AppRun.Baselines(
            drone,
            ReadyBarrier,
            options.Capacity,
            () =>
            {
                var initial = Grid.Initial(rows, cols, options.Seed);
                float[][] state = [initial, initial.ToArray()];
                Sequential(state, rows, cols, 0, options.Warmup);
                return state;
            },
            state => [state[0].ToArray(), state[1].ToArray()],
            state => Sequential(state, rows, cols, options.Warmup, options.Warmup + options.Iterations));

        Tmk.Barrier(StartBarrier);
        Sweep(grids, cols, band, 0, options.Warmup);
        var (parallel, messages) = AppRun.Timed(drone, slots, TimedBarrier, () => Sweep(grids, cols, band, options.Warmup, options.Warmup + options.Iterations));

        var exitCode = 0;
        if (drone.Id == 0)
        {
            // The last sweep wrote the grid its index's parity names.
            var last = (options.Warmup + options.Iterations) % 2;
            var mismatch = Grid.Mismatch(grids[last].AsReadOnlySpan(), expected![last], cols);
            exitCode = mismatch is null ? 0 : 1;
            AppReport.Write(
                "Jacobi",
                drone,
                [("grid", $"{rows} x {cols} floats, two of them"), ("sweeps (timed, after warm-up)", $"{options.Iterations} (after {options.Warmup})")],
                string.Create(CultureInfo.InvariantCulture, $"rows={rows} cols={cols} iterations={options.Iterations}"),
                new Measured(parallel, sequential, capacity, messages, options.Iterations, "sweep"),
                mismatch);
        }

        Tmk.Exit();
        return exitCode;
    }

    /// <summary>One interior row of the grid written from the three rows around it in the grid read.</summary>
    private static void SweepRow(ReadOnlySpan<float> above, ReadOnlySpan<float> row, ReadOnlySpan<float> below, Span<float> into)
    {
        for (var c = 1; c < row.Length - 1; c++)
        {
            into[c] = (above[c] + below[c] + row[c - 1] + row[c + 1]) * 0.25f;
        }
    }

    /// <summary>Sweeps <paramref name="from"/>.. <paramref name="to"/> − 1 of this drone's band; sweep k reads grid k mod 2 and writes the other; a barrier after each.</summary>
    private static void Sweep(SharedArray<float>[] grids, int cols, (int First, int End) band, int from, int to)
    {
        for (var k = from; k < to; k++)
        {
            var (read, write) = (grids[k % 2], grids[(k + 1) % 2]);
            for (var r = band.First; r < band.End; r++)
            {
                SweepRow(read.AsReadOnlySpan((r - 1) * cols, cols), read.AsReadOnlySpan(r * cols, cols), read.AsReadOnlySpan((r + 1) * cols, cols), write.AsSpan(r * cols, cols));
            }

            Tmk.Barrier(SweptBarrier);
        }
    }

    /// <summary>The sequential baseline: the same sweeps over the whole of two private grids.</summary>
    private static void Sequential(float[][] grids, int rows, int cols, int from, int to)
    {
        for (var k = from; k < to; k++)
        {
            var (read, write) = (grids[k % 2], grids[(k + 1) % 2]);
            for (var r = 1; r < rows - 1; r++)
            {
                SweepRow(read.AsSpan((r - 1) * cols, cols), read.AsSpan(r * cols, cols), read.AsSpan((r + 1) * cols, cols), write.AsSpan(r * cols, cols));
            }
        }
    }
}
