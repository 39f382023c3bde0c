using System.Globalization;

namespace HiveMind.Apps.Water;

/// <summary>
/// TreadMarks' Water as a drone program (an n-body step with locks on molecules' forces): each drone computes the pair
/// forces of its block of molecules with every later molecule into a private array, then adds them to the shared forces
/// group by group, each group of molecules under its lock; a barrier; each drone moves its own molecules and clears
/// their forces; a barrier. Drone 0 also runs the same steps sequentially (before the drones) and compares places to rounding.
/// </summary>
public static class WaterApp
{
    private const int StartBarrier = 0;
    private const int ForcedBarrier = 1;
    private const int MovedBarrier = 2;
    private const int ReadyBarrier = 3;
    private const int TimedBarrier = 4;

    /// <summary>Runs Water as this process's drone (started by <see cref="Tmk.Run{TOptions}"/>); returns the exit code (0: verified).</summary>
    public static int Run(WaterOptions options, Drone drone)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(drone);
        var molecules = options.Molecules;
        var words = 3 * molecules;
        var (blocks, slots) = AppRun.Allocate(drone, 8L * words, 8L * words, 8L * words);
        var places = drone.Array<double>(blocks[0], words);
        var velocities = drone.Array<double>(blocks[1], words);
        var forces = drone.Array<double>(blocks[2], words);
        var (first, end) = ((int)((long)molecules * drone.Id / drone.Count), (int)((long)molecules * (drone.Id + 1) / drone.Count));
        var groups = options.Groups;

        var (initialPlaces, initialVelocities) = Molecules.Initial(molecules, options.Seed);
        initialPlaces.AsSpan(3 * first, 3 * (end - first)).CopyTo(places.AsSpan(3 * first, 3 * (end - first)));
        initialVelocities.AsSpan(3 * first, 3 * (end - first)).CopyTo(velocities.AsSpan(3 * first, 3 * (end - first)));
        forces.AsSpan(3 * first, 3 * (end - first)).Clear();
        var (expected, sequential, capacity) = AppRun.Baselines(
            drone,
            ReadyBarrier,
            options.Capacity,
            () =>
            {
                var state = (Places: initialPlaces, Velocities: initialVelocities);
                Molecules.Sequential(state.Places, state.Velocities, 1);
                return state;
            },
            state => (state.Places.ToArray(), state.Velocities.ToArray()),
            state => Molecules.Sequential(state.Places, state.Velocities, options.Steps));

        Tmk.Barrier(StartBarrier);
        var own = new double[words];
        Step(places, velocities, forces, (first, end), groups, own);
        var (parallel, messages) = AppRun.Timed(drone, slots, TimedBarrier, () =>
        {
            for (var step = 0; step < options.Steps; step++)
            {
                Step(places, velocities, forces, (first, end), groups, own);
            }
        });

        var exitCode = 0;
        if (drone.Id == 0)
        {
            var mismatch = Molecules.Mismatch(places.AsReadOnlySpan(), expected.Places);
            exitCode = mismatch is null ? 0 : 1;
            AppReport.Write(
                "Water (n-body)",
                drone,
                [("molecules", $"{molecules}, forces locked in {groups} groups"), ("steps (timed, after one)", $"{options.Steps}")],
                string.Create(CultureInfo.InvariantCulture, $"molecules={molecules} steps={options.Steps}"),
                new Measured(parallel, sequential, capacity, messages, options.Steps, "step"),
                mismatch);
        }

        Tmk.Exit();
        return exitCode;
    }

    /// <summary>One time step of this drone's block: forces (added group by group under the groups' locks), barrier, moves, barrier.</summary>
    private static void Step(SharedArray<double> places, SharedArray<double> velocities, SharedArray<double> forces, (int First, int End) block, int groups, double[] own)
    {
        var molecules = places.Count / 3;
        Array.Clear(own);
        Molecules.PairForces(places.AsReadOnlySpan(), block.First, block.End, own);

        // Group g holds molecules [g·n/groups, (g+1)·n/groups); a group this block's pairs did not reach is left alone.
        for (var g = 0; g < groups; g++)
        {
            var (from, to) = ((int)((long)g * molecules / groups), (int)((long)(g + 1) * molecules / groups));
            var mine = own.AsSpan(3 * from, 3 * (to - from));
            if (mine.IndexOfAnyExcept(0.0) < 0)
            {
                continue;
            }

            Tmk.LockAcquire(g);

            // A raw span (the conversion checks once; its uses are not checked): the summing loop is timed, and the span
            // is taken after the acquire and used before the release.
            Span<double> shared = forces.AsSpan(3 * from, 3 * (to - from));
            for (var k = 0; k < shared.Length; k++)
            {
                shared[k] += mine[k];
            }

            Tmk.LockRelease(g);
        }

        Tmk.Barrier(ForcedBarrier);
        var length = 3 * (block.End - block.First);
        Molecules.Move(places.AsSpan(3 * block.First, length), velocities.AsSpan(3 * block.First, length), forces.AsReadOnlySpan(3 * block.First, length), 0, block.End - block.First);
        forces.AsSpan(3 * block.First, length).Clear();
        Tmk.Barrier(MovedBarrier);
    }
}
