using CommandLine;
using HiveMind;
using HiveMind.Memory;
using HiveMind.OracleDrone;

// Runs one PROTOCOL.md oracle (or a load or failure scenario) with this process as one of the drones; prints
// "oracle ... passed on drone N". Only the failover oracle recovers from failed drones; the others stop the run.
// "rogue" first runs a key holder gone wrong against a running run instead (see Rogue), which is no drone.
if (args is ["rogue", .. var rogueArgs])
{
    return Rogue.Run(rogueArgs);
}

return Tmk.Run<OracleOptions>(args, options =>
{
    options.RecoversFromFailures = options.Oracle == "failover";
    options.EndProcess = Environment.Exit; // a drone process of its own: HiveMind may end it (drone 0 gone, a stuck run)
}, (options, drone) =>
{
    var cluster = new ProcessCluster(drone);
    try
    {
        switch (options.Oracle)
        {
            case "seed-example":
                LrcOracles.SeedExample(cluster);
                break;
            case "counters":
                LrcOracles.LockedCounters(cluster, options.Seed);
                break;
            case "phases":
                LrcOracles.BarrierPhases(cluster);
                break;
            case "random":
                LrcOracles.RandomSchedule(cluster, options.Seed, rounds: 30);
                break;
            case "runs":
                // Each process runs its own steps as they come (no global order across processes).
                LrcOracles.RunChains(cluster, options.Seed, steps: 30, ordered: false, phases: 6);
                break;
            case "failover":
                Failover.Run(drone);
                break;
            case "exchange":
                LoadScenarios.Exchange(drone, options.Bytes);
                break;
            case "rewrite":
                LoadScenarios.Rewrite(drone, options.Pages, options.Rounds);
                break;
            case "long-phase":
                LoadScenarios.LongPhase(drone, options.PhaseMs);
                break;
            case "jacobi":
                Jacobi.Run(drone, options.CrashAt);
                break;
            default:
                throw new InvalidOperationException($"oracle {options.Oracle} has no runner");
        }
    }
    catch (Exception error) when (error is InvalidOperationException or TimeoutException && error is not HiveMind.Consistency.RunAbortedException && drone.FailureReason is null)
    {
        Console.Error.WriteLine($"oracle FAILED: {error.Message}");
        return 1;
    }

    Console.WriteLine($"oracle {options.Oracle} passed on drone {drone.Id}");
    return 0;
});

namespace HiveMind.OracleDrone
{
    /// <summary>The oracle to run, on top of every drone's options.</summary>
    internal sealed class OracleOptions : DroneOptions
    {
        [Option("oracle", Required = true, HelpText = "seed-example, counters, phases, random, runs, failover, exchange, rewrite, long-phase or jacobi.")]
        public string Oracle { get; set; } = string.Empty;

        [Option("seed", Default = 1, HelpText = "Seed of the randomized oracles.")]
        public int Seed { get; set; } = 1;

        [Option("bytes", Default = 12L << 20, HelpText = "exchange: bytes each drone writes and the next one reads.")]
        public long Bytes { get; set; } = 12L << 20;

        [Option("pages", Default = 64, HelpText = "rewrite: pages rewritten by turns.")]
        public int Pages { get; set; } = 64;

        [Option("rounds", Default = 200, HelpText = "rewrite: rewrites in all, drones 1 and 2 by turns.")]
        public int Rounds { get; set; } = 200;

        [Option("phase-ms", Default = 5000, HelpText = "long-phase: milliseconds the last drone computes between two barriers.")]
        public int PhaseMs { get; set; } = 5000;

        [Option("crash-at", HelpText = "jacobi: DRONE:SWEEP, the drone that throws at that sweep, as a buggy program would.")]
        public string? CrashAt { get; set; }

        public override void Validate()
        {
            if (Oracle is not ("seed-example" or "counters" or "phases" or "random" or "runs" or "failover" or "exchange" or "rewrite" or "long-phase" or "jacobi"))
            {
                throw new OptionsException($"--oracle: '{Oracle}' is not one of seed-example, counters, phases, random, runs, failover, exchange, rewrite, long-phase, jacobi.");
            }

            base.Validate();
        }
    }

    /// <summary>This process's drone as the one drone of the cluster that runs here.</summary>
    internal sealed class ProcessCluster(Drone drone) : ILrcCluster, IDroneView
    {
        public int Drones => drone.Count;

        public SharedHeap Heap => drone.Heap;

        public IDroneView View(int id) =>
            id == drone.Id ? this : throw new InvalidOperationException($"drone {drone.Id} cannot act as drone {id}");

        public void Run(Action<int> body, TimeSpan? timeout = null) => body(drone.Id);

        public void Acquire(int lockId) => drone.LockAcquire(lockId);

        public void Release(int lockId) => drone.LockRelease(lockId);

        public void Barrier(int barrierId) => drone.Barrier(barrierId);
    }
}
