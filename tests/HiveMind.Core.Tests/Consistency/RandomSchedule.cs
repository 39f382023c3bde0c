namespace HiveMind.Core.Tests.Consistency;

/// <summary>
/// A randomized race-free program: phases separated by barriers; in each phase every drone runs random
/// critical sections on random locks, each of which checks and bumps the counters that lock guards (words
/// spread over pages shared with other locks and with per-drone scratch words written outside any lock).
/// At each barrier every drone checks every counter against the number of critical sections run so far and
/// every drone's scratch words against what that drone wrote in the phase.
/// </summary>
internal static class RandomSchedule
{
    public static void Run(int drones, int seed, int rounds)
    {
        const int Locks = 5, WordsPerLock = 6, Phases = 3, ScratchWords = 40;
        using var cluster = new InMemoryCluster(drones);
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
