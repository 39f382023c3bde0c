using HiveMind.Consistency;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>A traced engine (<c>--trace</c>): what tracing adds to the protocol must not change what the run does.</summary>
public sealed class TraceEngineTests
{
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
}
