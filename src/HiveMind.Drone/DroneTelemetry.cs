using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using HiveMind.Telemetry;
using HiveMind.Wire;

namespace HiveMind;

/// <summary>
/// The counters of <see cref="HiveMindTelemetry.Meter"/> that are observed rather than recorded: when a listener asks,
/// each drone of this process reports what it did so far (faults, diffs, collections, messages and bytes by kind), tagged
/// with its id. A drone is observed from its start to its disposal.
/// </summary>
internal static class DroneTelemetry
{
    private static readonly ConcurrentDictionary<Drone, byte> Live = new();

    static DroneTelemetry()
    {
        var meter = HiveMindTelemetry.Meter;
        meter.CreateObservableCounter("hivemind.faults", ObserveFaults, "{fault}", "Read and write faults of the shared heap (tag hivemind.access).");
        meter.CreateObservableCounter("hivemind.diffs.made", () => Observe(d => d.Engine.Statistics.DiffsMade), "{diff}", "Diffs made of this drone's writes.");
        meter.CreateObservableCounter("hivemind.diffs.made.bytes", () => Observe(d => d.Engine.Statistics.DiffBytesMade), "By", "Bytes of the diffs made.");
        meter.CreateObservableCounter("hivemind.diffs.applied", () => Observe(d => d.Engine.Statistics.DiffsApplied), "{diff}", "Other drones' diffs applied here.");
        meter.CreateObservableCounter("hivemind.diffs.applied.bytes", () => Observe(d => d.Engine.Statistics.DiffBytesApplied), "By", "Bytes of the diffs applied.");
        meter.CreateObservableCounter("hivemind.gc.runs", () => Observe(d => d.Engine.Statistics.GarbageCollections), "{collection}", "Collections of consistency data.");
        meter.CreateObservableCounter("hivemind.messages.sent", () => ObserveTraffic(bytes: false), "{message}", "Frames sent to other drones (tag hivemind.message.kind).");
        meter.CreateObservableCounter("hivemind.bytes.sent", () => ObserveTraffic(bytes: true), "By", "Bytes of the frames sent to other drones (tag hivemind.message.kind).");
    }

    /// <summary>Starts observing <paramref name="drone"/>.</summary>
    public static void Add(Drone drone) => Live.TryAdd(drone, 0);

    /// <summary>Stops observing <paramref name="drone"/> (disposed).</summary>
    public static void Remove(Drone drone) => Live.TryRemove(drone, out _);

    private static KeyValuePair<string, object?> DroneTag(Drone drone) => new(HiveMindTelemetry.DroneTag, drone.Id);

    private static IEnumerable<Measurement<long>> Observe(Func<Drone, long> value) =>
        Live.Keys.Select(d => new Measurement<long>(value(d), DroneTag(d)));

    private static IEnumerable<Measurement<long>> ObserveFaults() =>
        Live.Keys.SelectMany(d => new[]
        {
            new Measurement<long>(d.Heap.ReadFaults, DroneTag(d), new("hivemind.access", "read")),
            new Measurement<long>(d.Heap.WriteFaults, DroneTag(d), new("hivemind.access", "write")),
        });

    private static IEnumerable<Measurement<long>> ObserveTraffic(bool bytes)
    {
        foreach (var drone in Live.Keys)
        {
            foreach (var (kind, (messages, sent)) in drone.SentByKind())
            {
                yield return new Measurement<long>(bytes ? sent : messages, DroneTag(drone), new("hivemind.message.kind", kind));
            }
        }
    }
}
