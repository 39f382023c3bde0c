using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using HiveMind.Telemetry;

namespace HiveMind.DroneTests;

/// <summary>Alone, so that no other test's drones add measurements or activities while these count theirs.</summary>
[CollectionDefinition(nameof(TelemetryCollection), DisableParallelization = true)]
public sealed class TelemetryCollection;

/// <summary>
/// What tools see of a run through .NET's own instrumentation: the HiveMind meter's histograms and counters, heard by a
/// <see cref="MeterListener"/>, and its activities, heard by an <see cref="ActivityListener"/>, each tagged with its drone.
/// </summary>
[Collection(nameof(TelemetryCollection))]
public sealed class TelemetryTests : IDisposable
{
    private const int Lock = 77;
    private const int Rounds = 6;

    private readonly MeterListener _meters = new();
    private readonly ActivityListener _activities;
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> _measurements = new();
    private readonly ConcurrentQueue<Activity> _stopped = new();

    public TelemetryTests()
    {
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == HiveMindTelemetry.Name)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meters.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(instrument, value, tags));
        _meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
        _meters.Start();
        _activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == HiveMindTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_activities);
    }

    [Fact]
    public void ALockRingAndBarriers_AreHeardAsHistogramsCountersAndActivitiesOfEachDrone()
    {
        using var cluster = new DroneCluster(2);
        var counters = new long[2];
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var counter = counters[id] = drone.Distribute(id == 0 ? drone.Malloc(4096, 4096) : 0);
            for (var round = 0; round < Rounds; round++)
            {
                drone.LockAcquire(Lock);
                drone.Heap.Write(counter, drone.Heap.Read<long>(counter) + 1);
                drone.LockRelease(Lock);
            }

            drone.Barrier(3);
        });
        Assert.Equal(2 * Rounds, cluster[1].Heap.Read<long>(counters[1]));
        _meters.RecordObservableInstruments();

        foreach (var drone in new[] { 0, 1 })
        {
            var waits = Of("hivemind.lock.wait", drone);
            Assert.True(waits.Count >= Rounds, $"drone {drone}: {waits.Count} hivemind.lock.wait measurements for its {Rounds} acquires of lock {Lock}");
            var barriers = Of("hivemind.barrier.wait", drone);
            Assert.True(barriers.Count == 1, $"drone {drone}: {barriers.Count} hivemind.barrier.wait measurements for its one program barrier (the runtime's own are not counted)");
            var faults = Of("hivemind.faults", drone).Where(m => (string?)m.Tags["hivemind.access"] == "write").Select(m => m.Value).DefaultIfEmpty().Max();
            Assert.True(faults >= 1, $"drone {drone}: hivemind.faults (write) observed {faults} after writing the counter at {counters[drone]}");
            var grants = Of("hivemind.messages.sent", drone).Where(m => (string?)m.Tags["hivemind.message.kind"] is "LockRequest" or "LockGrant").Sum(m => m.Value);
            Assert.True(grants >= 1, $"drone {drone}: hivemind.messages.sent shows {grants} lock requests and grants in a lock ring");

            var acquires = _stopped.Where(a => a.OperationName == "hivemind.acquire" && Tag(a, HiveMindTelemetry.DroneTag) == drone && Tag(a, "hivemind.lock") == Lock).ToList();
            Assert.True(acquires.Count == Rounds, $"drone {drone}: {acquires.Count} hivemind.acquire activities for lock {Lock}, not {Rounds}");
            Assert.Contains(_stopped, a => a.OperationName == "hivemind.barrier" && Tag(a, HiveMindTelemetry.DroneTag) == drone && Tag(a, "hivemind.barrier") == 3);
        }

        Assert.True(Of("hivemind.miss.time", 0).Count + Of("hivemind.miss.time", 1).Count >= 1, "no hivemind.miss.time measurement, though the counter's page went back and forth");
        Assert.Contains(_stopped, a => a.OperationName == "hivemind.miss" && Tag(a, "hivemind.pages") >= 1);
    }

    public void Dispose()
    {
        _meters.Dispose();
        _activities.Dispose();
    }

    private static int Tag(Activity activity, string name) => activity.GetTagItem(name) is int value ? value : -1;

    private List<(string Instrument, double Value, Dictionary<string, object?> Tags)> Of(string instrument, int drone) =>
        _measurements.Where(m => m.Instrument == instrument && m.Tags.TryGetValue(HiveMindTelemetry.DroneTag, out var id) && id is int d && d == drone).ToList();

    private void Add<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var copy = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            copy[tag.Key] = tag.Value;
        }

        _measurements.Enqueue((instrument.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), copy));
    }
}
