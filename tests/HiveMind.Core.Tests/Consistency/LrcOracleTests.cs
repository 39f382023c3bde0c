using HiveMind.Consistency;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>The correctness oracles of PROTOCOL.md, with drones in one process over in-memory queues.</summary>
public sealed class LrcOracleTests
{
    [Fact]
    public void SeedExample_XAndYOnOnePage_P3SeesXWrittenUnderLock1()
    {
        using var cluster = new InMemoryCluster(4);
        LrcOracles.SeedExample(cluster);
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(4, 3)]
    [InlineData(8, 4)]
    public void LockedCounters_FalseSharing_EveryWordCountsEveryCriticalSection(int drones, int seed)
    {
        using var cluster = new InMemoryCluster(drones);
        LrcOracles.LockedCounters(cluster, seed);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    public void BarrierPhases_InterleavedRegions_EveryoneSeesEveryPhase(int drones)
    {
        using var cluster = new InMemoryCluster(drones);
        LrcOracles.BarrierPhases(cluster);
    }

    [Theory]
    [InlineData(2, 11)]
    [InlineData(3, 12)]
    [InlineData(4, 13)]
    [InlineData(8, 14)]
    public void RandomSchedules_LocksAndBarriers_MatchASequentialModel(int drones, int seed)
    {
        using var cluster = new InMemoryCluster(drones);
        LrcOracles.RandomSchedule(cluster, seed, rounds: 40);
    }

    /// <summary>
    /// A sweep of seeds: HIVEMIND_LRC_SEEDS (default 3) seeds for each of 2, 3, 4 and 8 drones, odd seeds with
    /// garbage collection at every barrier. The suite runs the default;
    /// `HIVEMIND_LRC_SEEDS=200 dotnet test --filter RandomSchedules_SeedSweep` is the long sweep.
    /// </summary>
    [Fact]
    public void RandomSchedules_SeedSweep_AllPass()
    {
        var seeds = int.TryParse(Environment.GetEnvironmentVariable("HIVEMIND_LRC_SEEDS"), out var n) && n > 0 ? n : 3;
        foreach (var drones in new[] { 2, 3, 4, 8 })
        {
            for (var seed = 1000; seed < 1000 + seeds; seed++)
            {
                using var cluster = new InMemoryCluster(drones, collectionThreshold: seed % 2 == 1 ? 1 : LrcEngine.DefaultCollectionThreshold);
                LrcOracles.RandomSchedule(cluster, seed, rounds: 25);
            }
        }
    }

    /// <summary>
    /// Runs through lock chains with garbage collection at every barrier (whole-page installs that hold writes of
    /// intervals the fetcher does not know yet): HIVEMIND_LRC_SEEDS (default 3) seeds for each of 2, 3, 4, 6 and 8
    /// drones. `HIVEMIND_LRC_SEEDS=500 dotnet test --filter RunChains_SeedSweep` is the long sweep.
    /// </summary>
    [Fact]
    public void RunChains_SeedSweep_AllPass()
    {
        var seeds = int.TryParse(Environment.GetEnvironmentVariable("HIVEMIND_LRC_SEEDS"), out var n) && n > 0 ? n : 3;
        foreach (var drones in new[] { 2, 3, 4, 6, 8 })
        {
            for (var seed = 3000; seed < 3000 + seeds; seed++)
            {
                using var cluster = new InMemoryCluster(drones, collectionThreshold: 1);
                LrcOracles.RunChains(cluster, seed, steps: 15, ordered: true, phases: 12);
            }
        }
    }

    [Theory]
    [InlineData(3, 41)]
    [InlineData(4, 42)]
    [InlineData(8, 43)]
    public void RunChains_CollectionAtEveryBarrier_MatchASequentialModel(int drones, int seed)
    {
        using var cluster = new InMemoryCluster(drones, collectionThreshold: 1);
        LrcOracles.RunChains(cluster, seed, steps: 80, ordered: true);
    }

    [Fact]
    public void LocalReacquire_SendsNoMessage()
    {
        using var cluster = new InMemoryCluster(2);
        cluster.Run(id =>
        {
            if (id == 1)
            {
                cluster.Engines[1].Acquire(3); // manager is drone 1: the token starts here
                cluster.Engines[1].Release(3);
            }
        });
        var before = cluster.Messages;
        cluster.Run(id =>
        {
            if (id == 1)
            {
                for (var i = 0; i < 100; i++)
                {
                    cluster.Engines[1].Acquire(3);
                    cluster.Heaps[1].Write(64, i);
                    cluster.Engines[1].Release(3);
                }
            }
        });
        Assert.True(cluster.Messages == before, $"100 local re-acquires sent {cluster.Messages - before} message(s)");
        Assert.Equal(101, cluster.Engines[1].Statistics.LockAcquiresLocal);
    }

    [Fact]
    public void LockMisuse_IsAnErrorTheCallerSees()
    {
        using var cluster = new InMemoryCluster(2);
        var release = Assert.Throws<InvalidOperationException>(() => cluster.Engines[0].Release(4));
        Assert.Equal("Drone 0 releases lock 4, which it does not hold.", release.Message);
        cluster.Engines[0].Acquire(4);
        Assert.Contains("not reentrant", Assert.Throws<InvalidOperationException>(() => cluster.Engines[0].Acquire(4)).Message, StringComparison.Ordinal);
        cluster.Engines[0].Release(4);
    }
}
