using HiveMind.Memory;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>The correctness oracles of PROTOCOL.md, with drones in one process over in-memory queues.</summary>
public sealed class LrcOracleTests
{
    [Fact]
    public void SeedExample_XAndYOnOnePage_P3SeesXWrittenUnderLock1()
    {
        using var cluster = new InMemoryCluster(4);
        const long X = 4096 + 8, Y = 4096 + 12;
        using var p1Released = new ManualResetEventSlim();
        var seen = new int[2];
        cluster.Run(id =>
        {
            var engine = cluster.Engines[id];
            var heap = cluster.Heaps[id];
            switch (id)
            {
                case 1:
                    engine.Acquire(1);
                    heap.Write(X, 2);
                    engine.Release(1);
                    p1Released.Set();
                    break;
                case 2:
                    engine.Acquire(2);
                    heap.Write(Y, 3);
                    engine.Release(2);
                    break;
                case 3:
                    Assert.True(p1Released.Wait(TimeSpan.FromSeconds(30)), "P1 did not release lock 1 within 30 s");
                    engine.Acquire(1);
                    seen[0] = heap.Read<int>(X);
                    engine.Release(1);
                    break;
            }
        });
        Assert.True(seen[0] == 2, $"drone 3 read x = {seen[0]} at 0x{X:X} after acquiring lock 1, expected 2");

        // After a barrier everyone sees both writes, and the page's two writers did not overwrite each other.
        cluster.Run(id => cluster.Engines[id].Barrier(0));
        for (var id = 0; id < 4; id++)
        {
            Assert.True(cluster.Heaps[id].Read<int>(X) == 2, $"drone {id} read x = {cluster.Heaps[id].Read<int>(X)} after the barrier, expected 2");
            Assert.True(cluster.Heaps[id].Read<int>(Y) == 3, $"drone {id} read y = {cluster.Heaps[id].Read<int>(Y)} after the barrier, expected 3");
        }
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(4, 3)]
    [InlineData(8, 4)]
    public void LockedCounters_FalseSharing_EveryWordCountsEveryCriticalSection(int drones, int seed)
    {
        const int Locks = 6, WordsPerLock = 12, Rounds = 60;
        using var cluster = new InMemoryCluster(drones);

        // Lock l's words are spread over three pages that every other lock's words share.
        static long Word(int l, int k) => 4096L * (1 + (k % 3)) + (4L * ((k * Locks) + l));
        var counts = new int[drones, Locks];
        cluster.Run(id =>
        {
            var engine = cluster.Engines[id];
            var heap = cluster.Heaps[id];
            var rng = new Random((seed * 100) + id);
            for (var round = 0; round < Rounds; round++)
            {
                var l = rng.Next(Locks);
                engine.Acquire(l);
                var first = heap.Read<int>(Word(l, 0));
                for (var k = 0; k < WordsPerLock; k++)
                {
                    var value = heap.Read<int>(Word(l, k));
                    if (value != first)
                    {
                        throw new InvalidOperationException(
                            $"seed {seed}: drone {id} round {round} under lock {l} read {value} at 0x{Word(l, k):X}, but {first} at 0x{Word(l, 0):X}: stale or torn");
                    }
                }

                for (var k = 0; k < WordsPerLock; k++)
                {
                    heap.Write(Word(l, k), first + 1);
                }

                engine.Release(l);
                counts[id, l]++;
            }

            engine.Barrier(0);
        });

        for (var l = 0; l < Locks; l++)
        {
            var expected = Enumerable.Range(0, drones).Sum(d => counts[d, l]);
            for (var id = 0; id < drones; id++)
            {
                for (var k = 0; k < WordsPerLock; k++)
                {
                    var seen = cluster.Heaps[id].Read<int>(Word(l, k));
                    Assert.True(seen == expected, $"seed {seed}: drone {id} reads {seen} at 0x{Word(l, k):X} (lock {l}) after the final barrier, expected {expected}");
                }
            }
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    public void BarrierPhases_InterleavedRegions_EveryoneSeesEveryPhase(int drones)
    {
        const int Phases = 8, WordsPerDrone = 700; // regions interleave word by word across several pages
        using var cluster = new InMemoryCluster(drones);
        static int F(int t, int i, int k) => (t * 1_000_000) + (i * 1_000) + k;
        cluster.Run(id =>
        {
            var engine = cluster.Engines[id];
            var heap = cluster.Heaps[id];
            for (var t = 0; t < Phases; t++)
            {
                for (var k = 0; k < WordsPerDrone; k++)
                {
                    heap.Write(4L * ((k * drones) + id), F(t, id, k));
                }

                engine.Barrier(0);
                for (var j = 0; j < drones; j++)
                {
                    for (var k = 0; k < WordsPerDrone; k++)
                    {
                        var address = 4L * ((k * drones) + j);
                        var seen = heap.Read<int>(address);
                        if (seen != F(t, j, k))
                        {
                            throw new InvalidOperationException(
                                $"drone {id} phase {t}: 0x{address:X} (drone {j}'s region) holds {seen}, expected {F(t, j, k)}");
                        }
                    }
                }

                engine.Barrier(1);
            }
        });
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

    [Theory]
    [InlineData(2, 11)]
    [InlineData(3, 12)]
    [InlineData(4, 13)]
    [InlineData(8, 14)]
    public void RandomSchedules_LocksAndBarriers_MatchASequentialModel(int drones, int seed) =>
        RandomSchedule.Run(drones, seed, rounds: 40);

    /// <summary>
    /// A sweep of seeds: HIVEMIND_LRC_SEEDS (default 3) seeds for each of 2, 3, 4 and 8 drones. The suite runs
    /// the default; `HIVEMIND_LRC_SEEDS=200 dotnet test --filter RandomSchedules_SeedSweep` is the long sweep.
    /// </summary>
    [Fact]
    public void RandomSchedules_SeedSweep_AllPass()
    {
        var seeds = int.TryParse(Environment.GetEnvironmentVariable("HIVEMIND_LRC_SEEDS"), out var n) && n > 0 ? n : 3;
        foreach (var drones in new[] { 2, 3, 4, 8 })
        {
            for (var seed = 1000; seed < 1000 + seeds; seed++)
            {
                RandomSchedule.Run(drones, seed, rounds: 25);
            }
        }
    }
}
