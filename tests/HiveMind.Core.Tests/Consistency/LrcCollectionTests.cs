using HiveMind.Memory;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>Garbage collection at barriers: the oracles still hold when every barrier collects, and memory stays bounded.</summary>
public sealed class LrcCollectionTests
{
    private const long EveryBarrier = 1; // any consistency data at all passes this threshold

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void BarrierPhases_CollectingAtEveryBarrier_EveryoneSeesEveryPhase(int drones)
    {
        using var cluster = new InMemoryCluster(drones, collectionThreshold: EveryBarrier);
        LrcOracles.BarrierPhases(cluster);
        AssertCollected(cluster, atLeast: 8);
    }

    [Theory]
    [InlineData(2, 51)]
    [InlineData(4, 52)]
    [InlineData(8, 53)]
    public void RandomSchedules_CollectingAtEveryBarrier_MatchASequentialModel(int drones, int seed)
    {
        using var cluster = new InMemoryCluster(drones, collectionThreshold: EveryBarrier);
        LrcOracles.RandomSchedule(cluster, seed, rounds: 30);
        AssertCollected(cluster, atLeast: 3);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(6)]
    public void WholePage_AfterCollection_ComesFromAHolderWithItsAppliedVector(int drones)
    {
        const long Page = 10 * 4096;
        using var cluster = new InMemoryCluster(drones, collectionThreshold: EveryBarrier);
        cluster.Run(id =>
        {
            var drone = cluster.View(id);
            for (var round = 1; round <= 4; round++)
            {
                // Drone 1 alone writes the page; the barrier collects, so the others lose its diffs.
                if (id == 1)
                {
                    for (var k = 0; k < 1024; k++)
                    {
                        drone.Heap.Write(Page + (4L * k), (round * 10_000) + k);
                    }
                }

                drone.Barrier(0);

                // Drone 0 then changes a few words under a lock: a whole page plus a diff for the others.
                drone.Acquire(7);
                if (id == 0)
                {
                    for (var k = 0; k < 1024; k += 100)
                    {
                        drone.Heap.Write(Page + (4L * k), -round);
                    }
                }

                drone.Release(7);
                drone.Barrier(1);
                for (var k = 0; k < 1024; k++)
                {
                    var expected = k % 100 == 0 ? -round : (round * 10_000) + k;
                    var seen = drone.Heap.Read<int>(Page + (4L * k));
                    if (seen != expected)
                    {
                        throw new InvalidOperationException($"drone {id} round {round}: 0x{Page + (4L * k):X} holds {seen}, expected {expected}");
                    }
                }

                drone.Barrier(2);
            }
        });
        AssertCollected(cluster, atLeast: 4);
        var wholePages = cluster.Engines.Sum(e => e.Statistics.WholePagesFetched);
        Assert.True(wholePages >= drones - 2, $"{drones} drones fetched {wholePages} whole page(s) after collections; expected the non-writers to");
    }

    [Fact]
    public void SeedExampleAndCounters_CollectingAtEveryBarrier_StillHold()
    {
        using (var cluster = new InMemoryCluster(4, collectionThreshold: EveryBarrier))
        {
            LrcOracles.SeedExample(cluster);
            AssertCollected(cluster, atLeast: 1);
        }

        using (var cluster = new InMemoryCluster(4, collectionThreshold: EveryBarrier))
        {
            LrcOracles.LockedCounters(cluster, seed: 54);
            AssertCollected(cluster, atLeast: 1);
        }
    }

    [Fact]
    public void LongRun_ConsistencyDataStaysBounded()
    {
        const int Phases = 150, Words = 3000;
        const long Threshold = 256 << 10;
        var heap = new HeapOptions { PageSize = 4096, HeapSize = 4096 * 64 };
        long Peak(long threshold, out long collections)
        {
            using var cluster = new InMemoryCluster(3, heap, threshold);
            cluster.Run(id =>
            {
                var drone = cluster.View(id);
                for (var t = 0; t < Phases; t++)
                {
                    for (var k = 0; k < Words; k++)
                    {
                        drone.Heap.Write(4L * ((k * 3) + id), (t * 100_000) + k);
                    }

                    drone.Barrier(0);
                    for (var k = 0; k < Words; k += 97)
                    {
                        var other = (id + 1) % 3;
                        var seen = drone.Heap.Read<int>(4L * ((k * 3) + other));
                        if (seen != (t * 100_000) + k)
                        {
                            throw new InvalidOperationException($"drone {id} phase {t}: drone {other}'s word {k} holds {seen}, expected {(t * 100_000) + k}");
                        }
                    }

                    drone.Barrier(1);
                }
            });
            collections = cluster.Engines.Min(e => e.Statistics.GarbageCollections);
            return cluster.Engines.Max(e => e.Statistics.PeakConsistencyBytes);
        }

        var unbounded = Peak(long.MaxValue, out var none);
        var bounded = Peak(Threshold, out var collections);
        Assert.Equal(0, none);
        Assert.True(collections >= 3, $"only {collections} collections in {Phases} phases with a {Threshold}-byte threshold");
        Assert.True(bounded < 2 * Threshold, $"with collection the peak was {bounded} bytes, above twice the {Threshold}-byte threshold");
        Assert.True(unbounded > 4 * bounded, $"without collection the peak was only {unbounded} bytes against {bounded} with it: the run did not grow");
    }

    private static void AssertCollected(InMemoryCluster cluster, int atLeast)
    {
        for (var id = 0; id < cluster.Drones; id++)
        {
            var runs = cluster.Engines[id].Statistics.GarbageCollections;
            Assert.True(runs >= atLeast, $"drone {id} collected {runs} time(s), expected at least {atLeast}");
        }
    }
}
