namespace HiveMind.DroneTests;

/// <summary>The correctness oracles of PROTOCOL.md with drones in one process over real mesh links on loopback.</summary>
public sealed class MeshOracleTests
{
    [Fact]
    public void SeedExample_OverTheMesh_P3SeesX()
    {
        using var cluster = new MeshCluster(4);
        LrcOracles.SeedExample(cluster);
    }

    [Theory]
    [InlineData(2, 21)]
    [InlineData(4, 22)]
    [InlineData(8, 23)]
    public void LockedCounters_OverTheMesh_EveryWordCountsEveryCriticalSection(int drones, int seed)
    {
        using var cluster = new MeshCluster(drones);
        var before = cluster.MessagesSent;
        LrcOracles.LockedCounters(cluster, seed);
        var diffs = cluster.Engines.Sum(e => e.Statistics.DiffsApplied);
        Assert.True(cluster.MessagesSent > before && diffs > 0, $"the run sent {cluster.MessagesSent - before} frames and applied {diffs} diffs: the mesh was not exercised");
    }

    [Theory]
    [InlineData(3)]
    [InlineData(8)]
    public void BarrierPhases_OverTheMesh_EveryoneSeesEveryPhase(int drones)
    {
        using var cluster = new MeshCluster(drones);
        LrcOracles.BarrierPhases(cluster);
    }

    [Theory]
    [InlineData(2, 31)]
    [InlineData(3, 32)]
    [InlineData(5, 33)]
    public void RandomSchedules_OverTheMesh_MatchASequentialModel(int drones, int seed)
    {
        using var cluster = new MeshCluster(drones);
        LrcOracles.RandomSchedule(cluster, seed, rounds: 30);
    }

    /// <summary>HIVEMIND_MESH_SEEDS (default 1) seeds for each of 2, 3, 4 and 8 drones over loopback mesh links.</summary>
    [Fact]
    public void RandomSchedules_OverTheMesh_SeedSweep()
    {
        var seeds = int.TryParse(Environment.GetEnvironmentVariable("HIVEMIND_MESH_SEEDS"), out var n) && n > 0 ? n : 1;
        foreach (var drones in new[] { 2, 3, 4, 8 })
        {
            for (var seed = 2000; seed < 2000 + seeds; seed++)
            {
                using var cluster = new MeshCluster(drones);
                LrcOracles.RandomSchedule(cluster, seed, rounds: 20);
            }
        }
    }

    [Theory]
    [InlineData(4, 51)]
    [InlineData(6, 52)]
    public void RunChains_OverTheMesh_CollectionAtEveryBarrier_MatchASequentialModel(int drones, int seed)
    {
        using var cluster = new MeshCluster(drones, collectionThreshold: 1);
        LrcOracles.RunChains(cluster, seed, steps: 15, ordered: true, phases: 12);
    }

    /// <summary>
    /// Runs through lock chains with garbage collection at every barrier, over loopback mesh links: HIVEMIND_MESH_SEEDS
    /// (default 1) seeds for each of 2, 4, 6 and 8 drones.
    /// </summary>
    [Fact]
    public void RunChains_OverTheMesh_SeedSweep()
    {
        var seeds = int.TryParse(Environment.GetEnvironmentVariable("HIVEMIND_MESH_SEEDS"), out var n) && n > 0 ? n : 1;
        foreach (var drones in new[] { 2, 4, 6, 8 })
        {
            for (var seed = 4000; seed < 4000 + seeds; seed++)
            {
                using var cluster = new MeshCluster(drones, collectionThreshold: 1);
                LrcOracles.RunChains(cluster, seed, steps: 15, ordered: true, phases: 12);
            }
        }
    }

    /// <summary>
    /// Every link to drone 0 crosses a relay that tampers with its connections in turn (injects, replays, drops,
    /// reorders, cuts) until each has been changed six times: the links go on over new connections, no drone is taken
    /// for failed, and the random schedules still match the sequential model.
    /// </summary>
    [Theory]
    [InlineData(3, 41)]
    [InlineData(4, 42)]
    public void RandomSchedules_ThroughATamperingRelay_MatchASequentialModel(int drones, int seed)
    {
        var relays = new List<TamperingRelay>();
        try
        {
            using var cluster = new MeshCluster(drones, pathToDroneZero: zero =>
            {
                var relay = new TamperingRelay(
                    zero, Tamper.Inject, towardAcceptor: seed % 2 == 0, afterFrames: 30, everyConnection: true, spread: 300, connections: 6,
                    sequence: [Tamper.Inject, Tamper.Drop, Tamper.Reorder, Tamper.Replay, Tamper.Cut, Tamper.Inject]);
                relays.Add(relay);
                return relay.Endpoint;
            });
            // Rounds enough that every relay sees well over afterFrames + spread frames each way even on a fast machine (with
            // 30, a quick run sometimes ended before the first change was due, and the test exercised nothing).
            LrcOracles.RandomSchedule(cluster, seed, rounds: 80);
            Assert.True(cluster.Failures.IsEmpty, $"drones taken for failed through the relay: {string.Join("; ", cluster.Failures)}");
            Assert.True(!cluster.Breaks.IsEmpty, "the relay broke no connection: the test exercised nothing");
        }
        finally
        {
            relays.ForEach(r => r.Dispose());
        }
    }
}
