using HiveMind.Consistency;
using HiveMind.Memory;

namespace HiveMind.Testing;

/// <summary>A drone of a cluster in this process: its engine and its heap.</summary>
internal sealed class EngineView(LrcEngine engine, SharedHeap heap) : IDroneView
{
    public SharedHeap Heap => heap;

    public void Acquire(int lockId) => engine.Acquire(lockId);

    public void Release(int lockId) => engine.Release(lockId);

    public void Barrier(int barrierId) => engine.Barrier(barrierId);
}

/// <summary>What an oracle needs of one drone: its heap and its synchronization operations.</summary>
internal interface IDroneView
{
    SharedHeap Heap { get; }

    void Acquire(int lockId);

    void Release(int lockId);

    void Barrier(int barrierId);
}

/// <summary>
/// Drones however they run: threads of this process (in memory or over the mesh), or processes of their own,
/// where <see cref="Run"/> runs only this process's drone.
/// </summary>
internal interface ILrcCluster
{
    int Drones { get; }

    IDroneView View(int id);

    /// <summary>Runs <paramref name="body"/> as the application thread of each drone here; fails with the first drone's error.</summary>
    void Run(Action<int> body, TimeSpan? timeout = null);
}

/// <summary>
/// The correctness oracles of PROTOCOL.md for any <see cref="ILrcCluster"/>. Every check runs inside a drone's
/// own body against its own heap, so the same oracle runs with drones as threads or as processes. A failure
/// names the drone, the address, the expected and the seen value, and the seed.
/// </summary>
internal static class LrcOracles
{
    /// <summary>
    /// x and y on one page: P1 writes x under lock 1, P2 writes y under lock 2, P3 reads x under lock 1 and
    /// sees 2. P3 acquires lock 1 until it sees the flag P1 set in the same critical section as x; then x must be 2.
    /// Needs at least 4 drones.
    /// </summary>
    public static void SeedExample(ILrcCluster cluster)
    {
        const long X = 4096 + 8, Y = 4096 + 12, Flag = 4096 + 16;
        cluster.Run(id =>
        {
            var drone = cluster.View(id);
            var heap = drone.Heap;
            switch (id)
            {
                case 1:
                    drone.Acquire(1);
                    heap.Write(X, 2);
                    heap.Write(Flag, 1);
                    drone.Release(1);
                    break;
                case 2:
                    drone.Acquire(2);
                    heap.Write(Y, 3);
                    drone.Release(2);
                    break;
                case 3:
                    for (var attempt = 0; ; attempt++)
                    {
                        drone.Acquire(1);
                        var flag = heap.Read<int>(Flag);
                        var x = heap.Read<int>(X);
                        drone.Release(1);
                        if (flag == 1)
                        {
                            Check(x == 2, $"drone 3 read x = {x} at 0x{X:X} under lock 1 after P1's critical section, expected 2");
                            break;
                        }

                        Check(attempt < 1_000_000, "drone 3 never saw P1's critical section under lock 1");
                        Thread.Yield();
                    }

                    break;
            }

            // After a barrier everyone sees both writes: the page's two writers did not overwrite each other.
            drone.Barrier(0);
            Check(heap.Read<int>(X) == 2, $"drone {id} read x = {heap.Read<int>(X)} at 0x{X:X} after the barrier, expected 2");
            Check(heap.Read<int>(Y) == 3, $"drone {id} read y = {heap.Read<int>(Y)} at 0x{Y:X} after the barrier, expected 3");
        });
    }

    /// <summary>
    /// Lock-protected counters whose words share pages with other locks' words: in each critical section all
    /// words of the lock are equal; after the final barrier each equals the critical sections run on the lock.
    /// </summary>
    public static void LockedCounters(ILrcCluster cluster, int seed)
    {
        var drones = cluster.Drones;
        const int Locks = 6, WordsPerLock = 12, Rounds = 60;

        // Lock l's words are spread over three pages that every other lock's words share.
        static long Word(int l, int k) => 4096L * (1 + (k % 3)) + (4L * ((k * Locks) + l));
        var plan = new int[drones, Rounds];
        var rng = new Random(seed);
        for (var d = 0; d < drones; d++)
        {
            for (var r = 0; r < Rounds; r++)
            {
                plan[d, r] = rng.Next(Locks);
            }
        }

        cluster.Run(id =>
        {
            var drone = cluster.View(id);
            var heap = drone.Heap;
            for (var round = 0; round < Rounds; round++)
            {
                var l = plan[id, round];
                drone.Acquire(l);
                var first = heap.Read<int>(Word(l, 0));
                for (var k = 0; k < WordsPerLock; k++)
                {
                    var value = heap.Read<int>(Word(l, k));
                    Check(value == first, $"seed {seed}: drone {id} round {round} under lock {l} read {value} at 0x{Word(l, k):X}, but {first} at 0x{Word(l, 0):X}: stale or torn");
                }

                for (var k = 0; k < WordsPerLock; k++)
                {
                    heap.Write(Word(l, k), first + 1);
                }

                drone.Release(l);
            }

            drone.Barrier(0);
            for (var l = 0; l < Locks; l++)
            {
                var expected = 0;
                for (var d = 0; d < drones; d++)
                {
                    for (var r = 0; r < Rounds; r++)
                    {
                        expected += plan[d, r] == l ? 1 : 0;
                    }
                }

                for (var k = 0; k < WordsPerLock; k++)
                {
                    var seen = heap.Read<int>(Word(l, k));
                    Check(seen == expected, $"seed {seed}: drone {id} reads {seen} at 0x{Word(l, k):X} (lock {l}) after the final barrier, expected {expected}");
                }
            }
        });
    }

    /// <summary>Phases separated by barriers; in phase t drone i writes f(t, i) into its region, regions interleaving word by word.</summary>
    public static void BarrierPhases(ILrcCluster cluster)
    {
        var drones = cluster.Drones;
        const int Phases = 8, WordsPerDrone = 700;
        static int F(int t, int i, int k) => (t * 1_000_000) + (i * 1_000) + k;
        cluster.Run(id =>
        {
            var drone = cluster.View(id);
            var heap = drone.Heap;
            for (var t = 0; t < Phases; t++)
            {
                for (var k = 0; k < WordsPerDrone; k++)
                {
                    heap.Write(4L * ((k * drones) + id), F(t, id, k));
                }

                drone.Barrier(0);
                for (var j = 0; j < drones; j++)
                {
                    for (var k = 0; k < WordsPerDrone; k++)
                    {
                        var address = 4L * ((k * drones) + j);
                        var seen = heap.Read<int>(address);
                        Check(seen == F(t, j, k), $"drone {id} phase {t}: 0x{address:X} (drone {j}'s region) holds {seen}, expected {F(t, j, k)}");
                    }
                }

                drone.Barrier(1);
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
        var drones = cluster.Drones;
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
            var engine = cluster.View(id);
            var heap = engine.Heap;
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
                        Check(other == value, $"seed {seed}: drone {id} phase {t} lock {l}: 0x{Counter(l, k):X} holds {other}, 0x{Counter(l, 0):X} holds {value}");
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
                        Check(seen == expected, $"seed {seed}: drone {id} after phase {t}: lock {l}'s 0x{Counter(l, k):X} holds {seen}, expected {expected}");
                    }
                }

                for (var d = 0; d < drones; d++)
                {
                    for (var k = 0; k < Math.Min(ScratchWords, rounds); k++)
                    {
                        var last = Enumerable.Range(0, rounds).Where(r => r % ScratchWords == k).Max();
                        var seen = heap.Read<int>(Scratch(d, k));
                        Check(seen == (t * 10_000) + last, $"seed {seed}: drone {id} after phase {t}: drone {d}'s scratch 0x{Scratch(d, k):X} holds {seen}, expected {(t * 10_000) + last}");
                    }
                }

                engine.Barrier(1);
            }
        });
    }

    private static void Check(bool condition, string failure)
    {
        if (!condition)
        {
            throw new InvalidOperationException(failure);
        }
    }
}
