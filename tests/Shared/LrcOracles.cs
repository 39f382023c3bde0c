using HiveMind.Consistency;
using HiveMind.Memory;

namespace HiveMind.Testing;

/// <summary>Drones with a heap and an engine each, however they talk (in memory, over the mesh).</summary>
internal interface ILrcCluster
{
    SharedHeap[] Heaps { get; }

    LrcEngine[] Engines { get; }

    /// <summary>Runs <paramref name="body"/> as every drone's application thread; fails with the first drone's error.</summary>
    void Run(Action<int> body, TimeSpan? timeout = null);
}

/// <summary>The correctness oracles of PROTOCOL.md, for any <see cref="ILrcCluster"/> of the right size.</summary>
internal static class LrcOracles
{
    /// <summary>x and y on one page; P1 writes x under lock 1, P2 writes y under lock 2, P3 reads x under lock 1. Needs 4 drones.</summary>
    public static void SeedExample(ILrcCluster cluster)
    {
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


    /// <summary>Lock-protected counters whose words share pages with other locks' words.</summary>
    public static void LockedCounters(ILrcCluster cluster, int seed)
    {
        var drones = cluster.Engines.Length;
        const int Locks = 6, WordsPerLock = 12, Rounds = 60;

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


    /// <summary>Phases separated by barriers; regions of all drones interleave word by word.</summary>
    public static void BarrierPhases(ILrcCluster cluster)
    {
        var drones = cluster.Engines.Length;
        const int Phases = 8, WordsPerDrone = 700; // regions interleave word by word across several pages
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

    /// <summary>
    /// A randomized race-free program: phases separated by barriers; in each phase every drone runs random
    /// critical sections on random locks, each of which checks and bumps the counters that lock guards (words
    /// spread over pages shared with other locks and with per-drone scratch words written outside any lock).
    /// At each barrier every drone checks every counter against the number of critical sections run so far and
    /// every drone's scratch words against what that drone wrote in the phase.
    /// </summary>
    public static void RandomSchedule(ILrcCluster cluster, int seed, int rounds)
    {
        const int Locks = 5, WordsPerLock = 6, Phases = 3, ScratchWords = 40;
        var drones = cluster.Engines.Length;
        static long Counter(int l, int k) => 4096L * (1 + ((l + k) % 4)) + (8L * ((k * Locks) + l));
        long Scratch(int d, int k) => 4096L * (1 + (k % 4)) + 4 + (8L * ((k * drones) + d)) + (8L * Locks * WordsPerLock);
        var plan = new int[Phases, drones, rounds];
        var rng = new Random(seed);
        for (var t = 0; t < Phases; t++)
        {
            for (var d = 0; d < drones; d++)
            {
                for (var r = 0; r < rounds; r++)
                {
                    plan[t, d, r] = rng.Next(Locks);
                }
            }
        }

        cluster.Run(id =>
        {
            var engine = cluster.Engines[id];
            var heap = cluster.Heaps[id];
            for (var t = 0; t < Phases; t++)
            {
                for (var r = 0; r < rounds; r++)
                {
                    var l = plan[t, id, r];
                    engine.Acquire(l);
                    var value = heap.Read<int>(Counter(l, 0));
                    for (var k = 1; k < WordsPerLock; k++)
                    {
                        var other = heap.Read<int>(Counter(l, k));
                        if (other != value)
                        {
                            throw new InvalidOperationException($"seed {seed}: drone {id} phase {t} lock {l}: 0x{Counter(l, k):X} holds {other}, 0x{Counter(l, 0):X} holds {value}");
                        }
                    }

                    for (var k = 0; k < WordsPerLock; k++)
                    {
                        heap.Write(Counter(l, k), value + 1);
                    }

                    engine.Release(l);
                    heap.Write(Scratch(id, r % ScratchWords), (t * 10_000) + r);
                }

                engine.Barrier(0);
                for (var l = 0; l < Locks; l++)
                {
                    var expected = 0;
                    for (var tt = 0; tt <= t; tt++)
                    {
                        for (var d = 0; d < drones; d++)
                        {
                            for (var r = 0; r < rounds; r++)
                            {
                                expected += plan[tt, d, r] == l ? 1 : 0;
                            }
                        }
                    }

                    for (var k = 0; k < WordsPerLock; k++)
                    {
                        var seen = heap.Read<int>(Counter(l, k));
                        if (seen != expected)
                        {
                            throw new InvalidOperationException($"seed {seed}: drone {id} after phase {t}: lock {l}'s 0x{Counter(l, k):X} holds {seen}, expected {expected}");
                        }
                    }
                }

                for (var d = 0; d < drones; d++)
                {
                    for (var k = 0; k < Math.Min(ScratchWords, rounds); k++)
                    {
                        var last = Enumerable.Range(0, rounds).Where(r => r % ScratchWords == k).Max();
                        var seen = heap.Read<int>(Scratch(d, k));
                        if (seen != (t * 10_000) + last)
                        {
                            throw new InvalidOperationException($"seed {seed}: drone {id} after phase {t}: drone {d}'s scratch 0x{Scratch(d, k):X} holds {seen}, expected {(t * 10_000) + last}");
                        }
                    }
                }

                engine.Barrier(1);
            }
        });
    }
}
