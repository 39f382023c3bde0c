using HiveMind.Consistency;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>Scaling properties pinned by counting, never by timing: what a miss looks at, what a barrier carries.</summary>
public sealed class LrcScaleTests
{
    private const long Counter = 0;

    /// <summary>
    /// A strict lock ping-pong between 2 drones on one page, no collection: the page takes a notice at every hand-off,
    /// yet each miss looks only at the notices it has not applied (and those applied since its last miss), so the notices
    /// examined per miss in the last hand-offs are those of the first ones, not proportional to the page's history.
    /// </summary>
    [Fact]
    public void LockPingPong_NoticesExaminedPerMiss_StayFlatAsThePagesHistoryGrows()
    {
        const int HandOffs = 3000;
        const int Window = 300;
        using var cluster = new InMemoryCluster(2, collectionThreshold: long.MaxValue);
        int[] edges = [Window, 2 * Window, HandOffs - (2 * Window), HandOffs - Window];
        var windows = new (long Misses, long Examined)[2, edges.Length];
        cluster.Run(id =>
        {
            var engine = cluster.Engines[id];
            var heap = cluster.Heaps[id];
            var next = 0;
            while (true)
            {
                engine.Acquire(0);
                var turn = heap.Read<int>(Counter);
                if (turn >= HandOffs)
                {
                    engine.Release(0);
                    break;
                }

                if (turn % 2 == id)
                {
                    // Snapshots at the edges of the first and the last window of hand-offs (this drone's first turn past each).
                    if (next < edges.Length && turn >= edges[next])
                    {
                        windows[id, next++] = (engine.Statistics.ReadMisses, engine.Statistics.NoticesExamined);
                    }

                    heap.Write(Counter, turn + 1);
                }

                engine.Release(0);
            }
        });

        for (var id = 0; id < 2; id++)
        {
            var first = PerMiss(windows[id, 0], windows[id, 1]);
            var last = PerMiss(windows[id, 2], windows[id, 3]);
            Assert.True(
                last <= (first * 1.1) + 1,
                $"drone {id}: a miss on page 0 examined {first:F2} notices on average over hand-offs {Window}..{2 * Window} but {last:F2} over hand-offs {HandOffs - (2 * Window)}..{HandOffs - Window}: misses cost the page's history, not its new notices");
            Assert.True(first <= 4, $"drone {id}: a miss on page 0 examined {first:F2} notices on average over hand-offs {Window}..{2 * Window}; one new notice, one applied since the last miss and one a writer are expected");
        }

        var total = cluster.Engines.Sum(e => e.Statistics.NoticesExamined);
        Assert.True(total < 8L * HandOffs, $"the 2 drones examined {total} notices in {HandOffs} hand-offs of one page");
    }

    /// <summary>
    /// Each phase every drone but the manager writes its own page under one lock, which passes from drone to drone, so
    /// each learns the records of those before it; then a barrier. Each arrival carries only its drone's own new records:
    /// a record reaches the manager once, and the records in at the manager grow as N, not N².
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void BarrierArrivals_CarryOnlyTheArrivingDronesOwnRecords_OncePerRecord(int drones)
    {
        const int Phases = 4;
        using var cluster = new InMemoryCluster(drones, heap: new Memory.HeapOptions { PageSize = 4096, HeapSize = 4096L * 64 });
        var arrived = new System.Collections.Concurrent.ConcurrentQueue<(int From, IntervalRecord Record)>();
        cluster.Observe = (from, to, message) =>
        {
            if (to == LrcEngine.BarrierManagerDrone && message is BarrierArrival arrival)
            {
                foreach (var record in arrival.Intervals)
                {
                    arrived.Enqueue((from, record));
                }
            }
        };

        cluster.Run(id =>
        {
            for (var phase = 0; phase < Phases; phase++)
            {
                if (id != LrcEngine.BarrierManagerDrone)
                {
                    cluster.Engines[id].Acquire(1);
                    cluster.Heaps[id].Write((4096L * id) + (4 * phase), phase + 1);
                    cluster.Engines[id].Release(1);
                }

                cluster.Engines[id].Barrier(0);
            }
        });

        var foreign = arrived.Where(a => a.Record.Drone != a.From).Select(a => $"drone {a.From} brought {a.Record}").ToList();
        Assert.True(foreign.Count == 0, $"{drones} drones: arrivals at the manager carried other drones' records:\n{string.Join("\n", foreign.Take(10))}");
        var twice = arrived.GroupBy(a => (a.Record.Drone, a.Record.Index)).Where(g => g.Count() > 1).Select(g => $"interval {g.Key.Index} of drone {g.Key.Drone} x{g.Count()}").ToList();
        Assert.True(twice.Count == 0, $"{drones} drones: records reached the manager more than once: {string.Join(", ", twice.Take(10))}");
        var closed = cluster.Engines.Where(e => e.Self != LrcEngine.BarrierManagerDrone).Sum(e => e.Statistics.IntervalsClosed);
        Assert.True(arrived.Count <= closed, $"{drones} drones: {arrived.Count} records reached the manager for {closed} intervals the other drones closed");
        for (var phase = 0; phase < Phases; phase++)
        {
            for (var writer = 1; writer < drones; writer++)
            {
                var seen = cluster.Heaps[0].Read<int>((4096L * writer) + (4 * phase));
                Assert.True(seen == phase + 1, $"{drones} drones: drone 0 read {seen} at drone {writer}'s page, phase {phase}, after the barriers; expected {phase + 1}");
            }
        }
    }

    private static double PerMiss((long Misses, long Examined) from, (long Misses, long Examined) to) =>
        to.Misses > from.Misses ? (double)(to.Examined - from.Examined) / (to.Misses - from.Misses) : throw new InvalidOperationException($"no miss between the snapshots {from} and {to}");

    /// <summary>A whole copy that holds less than the page's last one (an adoption, a fetch after a collection) moves the cursor back: its missing notices are found.</summary>
    [Fact]
    public void Unapplied_AfterTheAppliedVectorWentBack_FindsTheNoticesAgain()
    {
        var store = new IntervalStore(3, 4);
        foreach (var interval in new[] { 2, 5, 7, 9 })
        {
            store.Notice(1, 2, interval);
        }

        store.Notice(1, 0, 3);
        var all = store.Unapplied(1, [0, 0, 7], _ => true);
        Assert.Equal("0:3 2:9", Describe(all));
        var back = store.Unapplied(1, [3, 0, 2], _ => true);
        Assert.Equal("2:5,7,9", Describe(back));
        Assert.Equal("2:9", Describe(store.Unapplied(1, [3, 0, 7], d => d == 2)));
        Assert.Empty(store.Unapplied(1, [3, 0, 9], _ => true));
        Assert.Equal(9, store.LastNoticed(1, 2));
        Assert.Equal(0, store.LastNoticed(1, 1));
    }

    /// <summary>A writer's notices of a page must come in interval order; one that does not is a protocol error, named.</summary>
    [Fact]
    public void Notice_OutOfIntervalOrder_ThrowsNamingPageWriterAndIntervals()
    {
        var store = new IntervalStore(2, 2);
        store.Notice(0, 1, 4);
        var error = Assert.Throws<InvalidOperationException>(() => store.Notice(0, 1, 4));
        Assert.Contains("page 0 by drone 1 for interval 4 came after one for interval 4", error.Message, StringComparison.Ordinal);
    }

    private static string Describe(List<(int Writer, int[] Intervals)> unapplied) =>
        string.Join(" ", unapplied.OrderBy(u => u.Writer).Select(u => $"{u.Writer}:{string.Join(",", u.Intervals)}"));
}
