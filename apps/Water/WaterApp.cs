using System.Diagnostics;
using System.Globalization;

namespace HiveMind.Apps.Water;

/// <summary>
/// TreadMarks' Water as a drone program (an n-body step with locks on molecules' forces): each drone computes the pair
/// forces of its block of molecules with every later molecule into a private array, then adds them to the shared forces
/// group by group, each group of molecules under its lock; a barrier; each drone moves its own molecules and clears
/// their forces; a barrier. Drone 0 runs the same steps sequentially and compares places to rounding.
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
        var page = drone.Heap.PageSize;
        var arrayBytes = (8L * words + page - 1) / page * page;

        // Places, velocities, forces, then one message count per drone slot.
        var address = Tmk.Distribute(drone.Id == 0 ? drone.Malloc((3 * arrayBytes) + (8L * drone.MaxDrones), page) : 0);
        var places = drone.Array<double>(address, words);
        var velocities = drone.Array<double>(address + arrayBytes, words);
        var forces = drone.Array<double>(address + (2 * arrayBytes), words);
        var slots = address + (3 * arrayBytes);
        var (first, end) = ((int)((long)molecules * drone.Id / drone.Count), (int)((long)molecules * (drone.Id + 1) / drone.Count));
        var groups = options.Groups;

        var (initialPlaces, initialVelocities) = Molecules.Initial(molecules, options.Seed);
        initialPlaces.AsSpan(3 * first, 3 * (end - first)).CopyTo(places.AsSpan(3 * first, 3 * (end - first)));
        initialVelocities.AsSpan(3 * first, 3 * (end - first)).CopyTo(velocities.AsSpan(3 * first, 3 * (end - first)));
        forces.AsSpan(3 * first, 3 * (end - first)).Clear();

        // The baselines run first, on drone 0 while the others wait at the barrier, once every drone has set up.
        Tmk.Barrier(ReadyBarrier);
        var (expected, sequential, capacity) = (Array.Empty<double>(), TimeSpan.Zero, (double?)null);
        if (drone.Id == 0)
        {
            expected = initialPlaces.ToArray();
            var moving = initialVelocities.ToArray();
            Molecules.Sequential(expected, moving, 1);
            var sequentialStarted = Stopwatch.GetTimestamp();
            Molecules.Sequential(expected, moving, options.Steps);
            sequential = Stopwatch.GetElapsedTime(sequentialStarted);
            capacity = options.Capacity
                ? Capacity.Measure(_ => Molecules.Sequential(initialPlaces.ToArray(), initialVelocities.ToArray(), 1 + options.Steps), sequential * ((1.0 + options.Steps) / Math.Max(1, options.Steps)))
                : null;
        }

        Tmk.Barrier(StartBarrier);
        var own = new double[words];
        Step(places, velocities, forces, (first, end), groups, own);
        Tmk.Barrier(TimedBarrier);
        var started = Stopwatch.GetTimestamp();
        var messagesBefore = drone.MessagesSent;
        for (var step = 0; step < options.Steps; step++)
        {
            Step(places, velocities, forces, (first, end), groups, own);
        }

        drone.Heap.Write(slots + (8L * drone.Id), drone.MessagesSent - messagesBefore);
        Tmk.Barrier(TimedBarrier);
        var parallel = Stopwatch.GetElapsedTime(started);

        var exitCode = 0;
        if (drone.Id == 0)
        {
            var mismatch = Molecules.Mismatch(places.AsReadOnlySpan(), expected);
            exitCode = mismatch is null ? 0 : 1;
            AppReport.Write(
                "Water (n-body)",
                drone,
                [("molecules", $"{molecules}, forces locked in {groups} groups"), ("steps (timed, after one)", $"{options.Steps}")],
                string.Create(CultureInfo.InvariantCulture, $"molecules={molecules} steps={options.Steps}"),
                new Measured(parallel, sequential, capacity, AppReport.SumSlots(drone, slots), options.Steps, "step"),
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
            var shared = forces.AsSpan(3 * from, 3 * (to - from));
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
