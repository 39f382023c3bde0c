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

    /// <summary>
    /// Runs through lock chains, for garbage collection at every barrier. Lock-protected counters and per-drone
    /// scratch words share four pages (each lock's and each drone's words on two of them, so that after a collection
    /// most drones hold some pages and fetch the others whole from a holder). A drone's unlocked scratch writes start
    /// runs (one twin over several intervals) on pages that lock chains then carry through other drones; drones close
    /// bursts of intervals on a page of their own (their VTs grow apart) and read words without synchronizing, which
    /// brings pages in, whole after a collection, holding writes of intervals the reader does not know yet. Each
    /// phase is a random sequence of steps: single operations, and chains on one lock whose roles fall on random
    /// drones (one reads the page early, one closes a burst and writes, one only reads under the lock, one brings
    /// the page in and opens a run before it acquires, the first acquires last), with random links left out and
    /// random steps between. With <paramref name="ordered"/> (drones in this process) the steps run one at a time in
    /// plan order, else each drone runs its own steps freely. In every critical section a lock's counters agree; after
    /// every third phase and the last (the others leave the pages untouched after their collection, for the next phase
    /// to fetch) every counter equals the critical sections run on its lock so far and every scratch word holds its
    /// drone's last write.
    /// </summary>
    public static void RunChains(ILrcCluster cluster, int seed, int steps, bool ordered, int phases = 4)
    {
        const int Pages = 4, Locks = 4;
        var drones = cluster.Drones;
        static int CounterPage(int l, int slot) => (l + slot) % Pages; // lock l: a word on pages l and l + 1
        static int ScratchPage(int d, int slot) => (d + slot) % Pages; // drone d: a word on pages d and d + 1
        static long Counter(int l, int slot) => 4096L * (1 + CounterPage(l, slot)) + (8L * l);
        static long Scratch(int d, int slot) => 4096L * (1 + ScratchPage(d, slot)) + 512 + (8L * d);
        static long Busy(int d) => 4096L * (1 + Pages + d);
        int BusyLock(int d) => (drones * 8) + d; // managed by drone d: re-acquiring it costs no message

        var rng = new Random(seed);
        ChainStep Random(int drone) => new(
            drone,
            rng.Next(10) switch { < 4 => ChainOp.Section, < 6 => ChainOp.Scratch, < 8 => ChainOp.Burst, _ => ChainOp.Read },
            rng.Next(Locks),
            rng.Next(2),
            rng.Next(2),
            rng.Next(4) == 0,
            rng.Next(4) == 0,
            rng.Next(4) == 0,
            rng.Next(24));
        var plan = new ChainStep[phases][];
        for (var t = 0; t < phases; t++)
        {
            var list = new List<ChainStep>();
            while (list.Count < steps)
            {
                if (rng.Next(2) == 0)
                {
                    list.Add(Random(rng.Next(drones)));
                    continue;
                }

                // A chain: roles on distinct drones where there are enough; the opener's scratch page holds a counter of the lock.
                var roles = Enumerable.Range(0, drones).OrderBy(_ => rng.Next()).ToArray();
                int Role(int r) => roles[r % drones];
                var (writer, reader, opener, last) = (Role(0), Role(1), Role(2), Role(3));
                var scratchSlot = rng.Next(2);
                var page = ScratchPage(opener, scratchSlot);
                var l = rng.Next(2) == 0 ? page : (page + Pages - 1) % Pages;
                var counterSlot = CounterPage(l, 0) == page ? 0 : 1;
                var links = new List<ChainStep>
                {
                    new(last, ChainOp.Read, l, counterSlot, 0, false, false, false, 0),
                    new(writer, ChainOp.Burst, 0, 0, 0, false, false, false, rng.Next(24)),
                    new(writer, ChainOp.Section, l, 0, 0, false, false, false, 0),
                    new(reader, ChainOp.Section, l, 0, 0, false, false, rng.Next(2) == 0, 0),
                    new(opener, ChainOp.Section, l, counterSlot, scratchSlot, true, true, false, 0),
                    new(last, ChainOp.Section, l, 0, 0, false, false, false, 0),
                };
                foreach (var link in links)
                {
                    if (rng.Next(6) > 0)
                    {
                        list.Add(link);
                    }

                    if (rng.Next(4) == 0)
                    {
                        list.Add(Random(rng.Next(drones)));
                    }
                }
            }

            plan[t] = [.. list.Take(steps)];
        }

        // What the plan implies: critical sections per lock up to each phase, each drone's last scratch value per slot.
        static int Value(int t, int step) => (t * 100_000) + step + 1;
        static bool Writes(ChainStep s, int slot) => (s.Op == ChainOp.Section && s.WritesScratch && s.ScratchSlot == slot) || (s.Op == ChainOp.Scratch && (s.Burst >> slot & 1) == 1);
        var sections = new int[phases, Locks];
        var scratch = new int[phases, drones, 2];
        for (var t = 0; t < phases; t++)
        {
            for (var l = 0; l < Locks; l++)
            {
                sections[t, l] = t == 0 ? 0 : sections[t - 1, l];
            }

            for (var d = 0; d < drones; d++)
            {
                for (var slot = 0; slot < 2; slot++)
                {
                    scratch[t, d, slot] = t == 0 ? 0 : scratch[t - 1, d, slot];
                }
            }

            for (var step = 0; step < steps; step++)
            {
                var s = plan[t][step];
                sections[t, s.Lock] += s.Op == ChainOp.Section && !s.ReadOnly ? 1 : 0;
                for (var slot = 0; slot < 2; slot++)
                {
                    scratch[t, s.Drone, slot] = Writes(s, slot) ? Value(t, step) : scratch[t, s.Drone, slot];
                }
            }
        }

        var turns = new Turnstile();
        cluster.Run(id =>
        {
            try
            {
                RunSteps(id);
            }
            catch (Exception error)
            {
                turns.Abort(id, error); // the other drones' turns would never come
                throw;
            }
        });

        void RunSteps(int id)
        {
            var drone = cluster.View(id);
            var heap = drone.Heap;
            for (var t = 0; t < phases; t++)
            {
                for (var step = 0; step < steps; step++)
                {
                    var s = plan[t][step];
                    if (s.Drone != id)
                    {
                        continue;
                    }

                    if (ordered)
                    {
                        turns.WaitFor((t * steps) + step, $"seed {seed}: drone {id} phase {t}");
                    }

                    if (s.Op == ChainOp.Read || (s.Op == ChainOp.Section && s.PreReads))
                    {
                        // Unchecked: it brings the page in (whole after a collection) with whatever it holds now.
                        _ = heap.Read<int>(Counter(s.Lock, s.ReadSlot));
                    }

                    for (var slot = 0; slot < 2; slot++)
                    {
                        if (Writes(s, slot))
                        {
                            heap.Write(Scratch(id, slot), Value(t, step));
                        }
                    }

                    if (s.Op == ChainOp.Section)
                    {
                        drone.Acquire(s.Lock);
                        var value = heap.Read<int>(Counter(s.Lock, 0));
                        var other = heap.Read<int>(Counter(s.Lock, 1));
                        Check(other == value, $"seed {seed}: drone {id} phase {t} step {step} under lock {s.Lock}: 0x{Counter(s.Lock, 1):X} holds {other}, 0x{Counter(s.Lock, 0):X} holds {value}");
                        if (!s.ReadOnly)
                        {
                            heap.Write(Counter(s.Lock, 1), value + 1);
                            heap.Write(Counter(s.Lock, 0), value + 1);
                        }

                        drone.Release(s.Lock);
                    }
                    else if (s.Op == ChainOp.Burst)
                    {
                        for (var k = 0; k <= s.Burst; k++)
                        {
                            drone.Acquire(BusyLock(id));
                            heap.Write(Busy(id), Value(t, step) + k);
                            drone.Release(BusyLock(id));
                        }
                    }

                    if (ordered)
                    {
                        turns.Next();
                    }
                }

                if (ordered)
                {
                    // Every drone waits for the phase's last step, so that no drone's barrier overtakes a step.
                    turns.WaitFor((t + 1) * steps, $"seed {seed}: drone {id} at the end of phase {t}");
                }

                drone.Barrier(0);
                if (t % 3 != 2 && t != phases - 1)
                {
                    // Unchecked: the next phase starts with the pages this drone did not write still to be fetched whole.
                    continue;
                }

                for (var l = 0; l < Locks; l++)
                {
                    for (var slot = 0; slot < 2; slot++)
                    {
                        var seen = heap.Read<int>(Counter(l, slot));
                        Check(seen == sections[t, l], $"seed {seed}: drone {id} after phase {t}: lock {l}'s counter 0x{Counter(l, slot):X} holds {seen}, expected {sections[t, l]}");
                    }
                }

                for (var d = 0; d < drones; d++)
                {
                    for (var slot = 0; slot < 2; slot++)
                    {
                        var seen = heap.Read<int>(Scratch(d, slot));
                        Check(seen == scratch[t, d, slot], $"seed {seed}: drone {id} after phase {t}: drone {d}'s scratch 0x{Scratch(d, slot):X} holds {seen}, expected {scratch[t, d, slot]}");
                    }
                }

                drone.Barrier(1);
            }
        }
    }

    private static void Check(bool condition, string failure)
    {
        if (!condition)
        {
            throw new InvalidOperationException(failure);
        }
    }

    private enum ChainOp
    {
        Section,
        Scratch,
        Burst,
        Read,
    }

    /// <summary>
    /// One step of <see cref="RunChains"/>: a critical section on <paramref name="Lock"/> (first, optionally, an unchecked
    /// read of its counter in <paramref name="ReadSlot"/> and a scratch write in <paramref name="ScratchSlot"/>), scratch
    /// writes (the slots in <paramref name="Burst"/>'s low bits), a burst of <paramref name="Burst"/> + 1 intervals, or an
    /// unchecked read.
    /// </summary>
    private readonly record struct ChainStep(int Drone, ChainOp Op, int Lock, int ReadSlot, int ScratchSlot, bool PreReads, bool WritesScratch, bool ReadOnly, int Burst);

    /// <summary>Steps taken one at a time, in order, by threads of this process.</summary>
    private sealed class Turnstile
    {
        private int _next;
        private string? _aborted;

        public void WaitFor(int step, string who)
        {
            lock (this)
            {
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
                while (_next != step)
                {
                    Check(_aborted is null, $"{who}: step {step} will not come up: {_aborted}");
                    var left = deadline - DateTime.UtcNow;
                    Check(left > TimeSpan.Zero, $"{who}: step {step} did not come up within 60 s (step {_next} is due)");
                    Monitor.Wait(this, left);
                }
            }
        }

        public void Abort(int drone, Exception cause)
        {
            lock (this)
            {
                _aborted ??= $"drone {drone} failed: {cause.Message}";
                Monitor.PulseAll(this);
            }
        }

        public void Next()
        {
            lock (this)
            {
                _next++;
                Monitor.PulseAll(this);
            }
        }
    }
}
