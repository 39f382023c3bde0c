using HiveMind.Consistency;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>A traced engine (<c>--trace</c>): what tracing adds to the protocol must not change what the run does.</summary>
public sealed class TraceEngineTests
{
    private const long Page = 5 * 4096;

    /// <summary>
    /// A garbage collection whose manager (drone 0) comes late to its own release of the collection's first barrier: the
    /// others' arrivals at the second come first. Traced, every barrier made an interval, so those arrivals carried records
    /// that drone 0's collection then wiped, and the second barrier waited for them for ever.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Collection_WhoseManagerIsLateForItsFirstRelease_Completes(bool traced)
    {
        using var cluster = new InMemoryCluster(3, collectionThreshold: 1);
        foreach (var engine in cluster.Engines)
        {
            engine.Trace = traced ? new ProtocolTrace(10_000) : null;
        }

        cluster.Delay = (from, to, message) =>
            from == 0 && to == 0 && message is BarrierRelease { Barrier: < 0 } ? TimeSpan.FromMilliseconds(300) : TimeSpan.Zero;
        cluster.Run(
            id =>
            {
                var drone = cluster.View(id);
                drone.Heap.Write(4096L * (id + 1), id + 1);
                drone.Barrier(0);
                drone.Barrier(1);
                Assert.Equal(3, drone.Heap.Read<int>(4096L * 3));
            },
            TimeSpan.FromSeconds(30));
        Assert.All(cluster.Engines, e => Assert.True(e.Statistics.GarbageCollections >= 1, $"drone {e.Self} took part in no collection"));
    }

    /// <summary>
    /// One thread of drone 0 keeps missing a page drone 1 writes while drone 0's main thread synchronizes: the trace still
    /// holds the drone's events in interval order (the log's clocks depend on it).
    /// </summary>
    [Fact]
    public void Trace_WithMissesOnAnotherThread_KeepsEachDronesEventsInIntervalOrder()
    {
        using var cluster = new InMemoryCluster(2);
        foreach (var engine in cluster.Engines)
        {
            engine.Trace = new ProtocolTrace(1_000_000);
        }

        cluster.Run(
            id =>
            {
                var drone = cluster.View(id);
                var stop = false;
                Thread? reader = null;
                if (id == 0)
                {
                    reader = new Thread(() =>
                    {
                        while (!Volatile.Read(ref stop))
                        {
                            _ = drone.Heap.Read<int>(Page);
                        }
                    });
                    reader.Start();
                }

                for (var i = 0; i < 300; i++)
                {
                    if (id == 1)
                    {
                        drone.Heap.Write(Page, i);
                    }

                    drone.Barrier(0);
                    if (id == 0)
                    {
                        for (var k = 0; k < 10; k++)
                        {
                            drone.Acquire(2);
                            drone.Release(2);
                        }
                    }
                }

                Volatile.Write(ref stop, true);
                reader?.Join();
            },
            TimeSpan.FromSeconds(120));

        var events = cluster.Engines[0].Trace!.Events;
        var misses = events.Count(e => e.Kind == TraceEventKind.Miss);
        Assert.True(misses > 0, "drone 0's reader thread missed the page drone 1 writes not once");
        var down = Enumerable.Range(1, events.Count - 1).Where(i => events[i].Interval < events[i - 1].Interval).ToList();
        Assert.True(down.Count == 0, $"{down.Count} of drone 0's {events.Count} events ({misses} misses) come after one of a later interval; first: " +
            string.Join("; ", down.Take(3).Select(i => $"{events[i - 1].Kind}@{events[i - 1].Interval} then {events[i].Kind}@{events[i].Interval}")));
    }
}
