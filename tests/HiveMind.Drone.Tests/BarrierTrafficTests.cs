using System.Collections.Concurrent;
using HiveMind.Consistency;
using HiveMind.Memory;
using HiveMind.Net.Codec;
using HiveMind.Wire;
using MessagePack;

namespace HiveMind.DroneTests;

/// <summary>
/// What the barrier manager sends and receives as the run grows, in bytes of the wire's encoding (counts, not times):
/// drones in one process whose messages go through the protocol codec on their way, for a fixed write pattern.
/// </summary>
public sealed class BarrierTrafficTests
{
    private const int Phases = 10;

    /// <summary>
    /// Every drone writes words of its own page, then a barrier, ten times. At the manager, messages in and out are one
    /// arrival and one release per other drone, and the bytes a drone costs the manager grow at most linearly with the
    /// run (each release carries the other drones' new records, a few bytes each): from 4 to 32 drones the bytes per
    /// drone grow less than 12 times (9.8 measured). With a full VT in every record they grew 33 times.
    /// </summary>
    [Fact]
    public void BarrierManager_BytesPerDrone_GrowAtMostLinearlyFromFourToThirtyTwoDrones()
    {
        var small = Measure(4);
        var large = Measure(32);
        var table = $"4 drones: {small}; 32 drones: {large}";
        Assert.True(small.MessagesIn == 3 * Phases && small.MessagesOut == 3 * Phases, $"4 drones, {Phases} barriers: the manager's messages in/out: {table}");
        Assert.True(large.MessagesIn == 31 * Phases && large.MessagesOut == 31 * Phases, $"32 drones, {Phases} barriers: the manager's messages in/out: {table}");
        var outGrowth = large.OutPerDrone / small.OutPerDrone;
        var inGrowth = large.InPerDrone / small.InPerDrone;
        Assert.True(outGrowth < 12, $"bytes out of the manager per drone and barrier grew {outGrowth:F1} times from 4 to 32 drones (8 times as many): {table}");
        Assert.True(inGrowth < 12, $"bytes into the manager per drone and barrier grew {inGrowth:F1} times from 4 to 32 drones: {table}");
    }

    /// <summary>
    /// An arrival carries its VT as the entries that changed since the release the drone last took from the manager
    /// (here its own entry): the bytes a drone sends the manager per barrier do not grow with the run. With the whole VT
    /// in every arrival they grew with the number of drones (30 to 68 bytes from 4 to 32 drones in the proto bench).
    /// </summary>
    [Fact]
    public void BarrierManager_BytesInPerDrone_StayFlatFromFourToThirtyTwoDrones()
    {
        var small = Measure(4);
        var large = Measure(32);
        var growth = large.InPerDrone / small.InPerDrone;
        Assert.True(growth < 1.25, $"bytes into the manager per drone and barrier grew {growth:F2} times from 4 to 32 drones (they should not grow): 4 drones: {small}; 32 drones: {large}");
    }

    /// <summary>
    /// The manager numbers its releases and keeps the VTs of the last <see cref="BarrierManager.KeptReleases"/> for
    /// arrivals to be read against: after twenty barriers the last release's VT is every drone's, the one
    /// <see cref="BarrierManager.KeptReleases"/> back is gone, and no other drone keeps any.
    /// </summary>
    [Fact]
    public void BarrierManager_KeepsItsLastReleasesVts_ForArrivalsToBeReadAgainst()
    {
        const int Barriers = 20;
        using var run = new CodecRun(3);
        run.Run(id =>
        {
            for (var barrier = 0; barrier < Barriers; barrier++)
            {
                run.Heaps[id].Write((4096L * id) + (8 * barrier), barrier + 1L);
                run.Engines[id].Barrier(1);
            }
        });
        var manager = run.Engines[LrcEngine.BarrierManagerDrone];
        var last = manager.Barriers.Releases;
        Assert.True(last == Barriers, $"drone 0 numbered {last} release(s) after {Barriers} barriers");
        var kept = manager.ReleaseTimestamp(last);
        for (var id = 0; id < 3; id++)
        {
            var vt = run.Engines[id].Timestamp;
            Assert.True(kept is not null && kept.SequenceEqual(vt), $"release {last} keeps VT [{string.Join(",", kept ?? [])}], but drone {id} left the barrier with [{string.Join(",", vt)}]");
        }

        Assert.True(manager.ReleaseTimestamp(last - BarrierManager.KeptReleases + 1) is not null, $"drone 0 no longer keeps release {last - BarrierManager.KeptReleases + 1}, one of its last {BarrierManager.KeptReleases}");
        Assert.True(manager.ReleaseTimestamp(last - BarrierManager.KeptReleases) is null, $"drone 0 still keeps release {last - BarrierManager.KeptReleases}, older than its last {BarrierManager.KeptReleases}");
        Assert.True(run.Engines[1].ReleaseTimestamp(last) is null, $"drone 1, not the barrier manager, keeps release {last}");
    }

    private static Traffic Measure(int drones)
    {
        using var run = new CodecRun(drones);
        run.Run(id => run.Engines[id].Barrier(0)); // everyone has arrived once: the counts start here
        var before = run.Snapshot();
        run.Run(id =>
        {
            for (var phase = 0; phase < Phases; phase++)
            {
                run.Heaps[id].Write((4096L * id) + (8 * phase), phase + 1L);
                run.Engines[id].Barrier(1);
            }
        });
        var after = run.Snapshot();
        return new Traffic(
            after.MessagesIn - before.MessagesIn,
            after.MessagesOut - before.MessagesOut,
            (double)(after.BytesIn - before.BytesIn) / Phases / (drones - 1),
            (double)(after.BytesOut - before.BytesOut) / Phases / (drones - 1));
    }

    private readonly record struct Traffic(long MessagesIn, long MessagesOut, double InPerDrone, double OutPerDrone)
    {
        public override string ToString() => $"{MessagesIn} messages in, {MessagesOut} out, {InPerDrone:F1} bytes in and {OutPerDrone:F1} out per drone and barrier";
    }

    /// <summary>Engines in this process whose one-way messages are encoded, counted (to and from drone 0) and decoded on their way.</summary>
    private sealed class CodecRun : IDisposable
    {
        private readonly Network[] _networks;
        private long _messagesIn, _messagesOut, _bytesIn, _bytesOut;

        public CodecRun(int drones)
        {
            Heaps = Enumerable.Range(0, drones).Select(_ => new SharedHeap(new HeapOptions { PageSize = 4096, HeapSize = 4096L * 64 })).ToArray();
            _networks = Enumerable.Range(0, drones).Select(id => new Network(this, id, drones)).ToArray();
            Engines = Enumerable.Range(0, drones).Select(id => new LrcEngine(id, drones, Heaps[id], _networks[id], TimeSpan.FromSeconds(60))).ToArray();
            Array.ForEach(_networks, n => n.Start());
        }

        public SharedHeap[] Heaps { get; }

        public LrcEngine[] Engines { get; }

        public (long MessagesIn, long MessagesOut, long BytesIn, long BytesOut) Snapshot() =>
            (Interlocked.Read(ref _messagesIn), Interlocked.Read(ref _messagesOut), Interlocked.Read(ref _bytesIn), Interlocked.Read(ref _bytesOut));

        public void Run(Action<int> body) => DroneThreads.Run(Engines.Length, body, TimeSpan.FromSeconds(60), () => string.Join("; ", _networks.SelectMany(n => n.Errors)));

        public void Dispose()
        {
            Array.ForEach(_networks, n => n.Stop());
            Array.ForEach(Heaps, h => h.Dispose());
        }

        private sealed class Network(CodecRun run, int self, int drones) : IDroneNetwork
        {
            private readonly BlockingCollection<(int From, byte Kind, byte[] Body)> _inbox = new();
            private Thread? _thread;

            public ConcurrentQueue<string> Errors { get; } = new();

            public void Start()
            {
                _thread = new Thread(() =>
                {
                    foreach (var (from, kind, body) in _inbox.GetConsumingEnumerable())
                    {
                        try
                        {
                            run.Engines[self].Handle(from, ProtocolCodec.Read(kind, body, drones, run.Engines[self].ReleaseTimestamp));
                        }
                        catch (Exception error) when (error is not OutOfMemoryException)
                        {
                            Errors.Enqueue($"drone {self} handling a message of drone {from}: {error.Message}");
                        }
                    }
                })
                { IsBackground = true, Name = $"drone {self} codec network" };
                _thread.Start();
            }

            public void Stop()
            {
                _inbox.CompleteAdding();
                _thread?.Join(TimeSpan.FromSeconds(10));
            }

            public void Send(int drone, ProtocolMessage message)
            {
                var body = WireBodies.Of(message, ProtocolCodec.Write);
                if (drone != self && (drone == LrcEngine.BarrierManagerDrone || self == LrcEngine.BarrierManagerDrone))
                {
                    var toManager = drone == LrcEngine.BarrierManagerDrone;
                    Interlocked.Increment(ref toManager ? ref run._messagesIn : ref run._messagesOut);
                    Interlocked.Add(ref toManager ? ref run._bytesIn : ref run._bytesOut, body.Length);
                }

                run._networks[drone]._inbox.Add((self, ProtocolCodec.KindOf(message), body));
            }

            public IReadOnlyList<ProtocolMessage> RequestAll(IReadOnlyList<(int Drone, ProtocolMessage Request)> requests) =>
                throw new InvalidOperationException($"drone {self}: this write pattern makes no requests, yet {requests.Count} were sent");
        }
    }
}
