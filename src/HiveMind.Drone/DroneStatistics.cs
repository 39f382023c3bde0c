using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace HiveMind;

/// <summary>
/// What one drone did, as TreadMarks' Tmk_stat reports it. Written by the drone's application thread only.
/// </summary>
public sealed class DroneStatistics
{
    /// <summary>Reads of a page this drone could not read (invalid), each one a fault.</summary>
    public long ReadFaults { get; internal set; }

    /// <summary>Writes to a page this drone could not write (not writable yet in this interval), each one a fault.</summary>
    public long WriteFaults { get; internal set; }

    /// <summary>Twins (copies of a page before its first write in an interval) made, for diffs later.</summary>
    public long TwinsMade { get; internal set; }

    /// <summary>Write faults that kept a twin from an earlier interval instead of making one.</summary>
    public long TwinsKept { get; internal set; }

    /// <summary>Intervals closed (each synchronization after writes closes one).</summary>
    public long IntervalsClosed { get; internal set; }

    /// <summary>Diffs made of this drone's writes, for other drones that asked.</summary>
    public long DiffsMade { get; internal set; }

    /// <summary>Bytes of the diffs made.</summary>
    public long DiffBytesMade { get; internal set; }

    /// <summary>Other drones' diffs applied to this drone's copy.</summary>
    public long DiffsApplied { get; internal set; }

    /// <summary>Bytes of the diffs applied.</summary>
    public long DiffBytesApplied { get; internal set; }

    /// <summary>Lock acquires served without a message (this drone held the token).</summary>
    public long LockAcquiresLocal { get; internal set; }

    /// <summary>Lock acquires that asked another drone for the lock.</summary>
    public long LockAcquiresRemote { get; internal set; }

    /// <summary>Lock attempts (<see cref="Drone.LockTryAcquire"/>) that found the lock held or asked for.</summary>
    public long LockAttemptsBusy { get; internal set; }

    /// <summary>Time spent in lock acquires, in <see cref="Stopwatch"/> ticks (<see cref="LockWait"/>).</summary>
    public long LockWaitTicks { get; internal set; }

    /// <summary>The program's barriers (ids from 0).</summary>
    public long Barriers { get; internal set; }

    /// <summary>The runtime's own barriers: the start, the one behind each <see cref="Drone.Distribute(long)"/>, the two of each <see cref="Drone.MallocCollective"/>, and the exit.</summary>
    public long RuntimeBarriers { get; internal set; }

    /// <summary>Time spent in the program's barriers, in <see cref="Stopwatch"/> ticks (<see cref="BarrierWait"/>).</summary>
    public long BarrierWaitTicks { get; internal set; }

    /// <summary>Collections of consistency data (at barriers) this drone took part in.</summary>
    public long GarbageCollections { get; internal set; }

    /// <summary>Time spent bringing invalid pages up to date, in <see cref="Stopwatch"/> ticks (<see cref="MissTime"/>).</summary>
    public long MissTicks { get; internal set; }

    /// <summary>Time spent on twins and pending diffs at write faults, in <see cref="Stopwatch"/> ticks (<see cref="WriteFaultTime"/>).</summary>
    public long WriteFaultTicks { get; internal set; }

    /// <summary>Frames this drone sent to other drones (heartbeats and link control included).</summary>
    public long MessagesSent { get; internal set; }

    /// <summary>Bytes of the frames sent.</summary>
    public long BytesSent { get; internal set; }

    /// <summary>
    /// Allocations of shared memory this drone made with <see cref="Drone.Malloc"/> (on a drone other than 0, each a request
    /// to drone 0), and on drone 0 those of <see cref="Drone.MallocCollective"/> (one for all drones).
    /// </summary>
    public long Mallocs { get; internal set; }

    /// <summary>
    /// The longest silence this drone heard from any peer while it was listening (the failure detector's margin: a
    /// peer is reported silent at the failure timeout), in milliseconds.
    /// </summary>
    public long LongestSilenceMs { get; internal set; }

    /// <summary>Time this process spent paused by .NET's garbage collector.</summary>
    public TimeSpan GcPause { get; internal set; }

    /// <summary>Messages and bytes sent, by message kind (mesh and protocol kinds; replies count as Response).</summary>
    public IReadOnlyDictionary<string, (long Messages, long Bytes)> SentByKind { get; internal set; } =
        new Dictionary<string, (long Messages, long Bytes)>();

    /// <summary>Time spent waiting for locks.</summary>
    public TimeSpan LockWait => Stopwatch.GetElapsedTime(0, LockWaitTicks);

    /// <summary>Time spent in barriers.</summary>
    public TimeSpan BarrierWait => Stopwatch.GetElapsedTime(0, BarrierWaitTicks);

    /// <summary>Time spent bringing invalid pages up to date.</summary>
    public TimeSpan MissTime => Stopwatch.GetElapsedTime(0, MissTicks);

    /// <summary>Time spent on twins and pending diffs at write faults.</summary>
    public TimeSpan WriteFaultTime => Stopwatch.GetElapsedTime(0, WriteFaultTicks);

    /// <summary>
    /// Every count by its name, times in nanoseconds: what a drone reports to drone 0 as it leaves, and what
    /// <c>--stats-json</c> holds. A name drone 0 does not know (a newer drone's) is left out, never an error.
    /// </summary>
    internal static readonly (string Name, Func<DroneStatistics, long> Get, Action<DroneStatistics, long> Set)[] Fields =
    [
        ("readFaults", s => s.ReadFaults, (s, v) => s.ReadFaults = v),
        ("writeFaults", s => s.WriteFaults, (s, v) => s.WriteFaults = v),
        ("twinsMade", s => s.TwinsMade, (s, v) => s.TwinsMade = v),
        ("twinsKept", s => s.TwinsKept, (s, v) => s.TwinsKept = v),
        ("intervalsClosed", s => s.IntervalsClosed, (s, v) => s.IntervalsClosed = v),
        ("diffsMade", s => s.DiffsMade, (s, v) => s.DiffsMade = v),
        ("diffBytesMade", s => s.DiffBytesMade, (s, v) => s.DiffBytesMade = v),
        ("diffsApplied", s => s.DiffsApplied, (s, v) => s.DiffsApplied = v),
        ("diffBytesApplied", s => s.DiffBytesApplied, (s, v) => s.DiffBytesApplied = v),
        ("missNs", s => Nanoseconds(s.MissTicks), (s, v) => s.MissTicks = Ticks(v)),
        ("writeFaultNs", s => Nanoseconds(s.WriteFaultTicks), (s, v) => s.WriteFaultTicks = Ticks(v)),
        ("lockAcquiresLocal", s => s.LockAcquiresLocal, (s, v) => s.LockAcquiresLocal = v),
        ("lockAcquiresRemote", s => s.LockAcquiresRemote, (s, v) => s.LockAcquiresRemote = v),
        ("lockAttemptsBusy", s => s.LockAttemptsBusy, (s, v) => s.LockAttemptsBusy = v),
        ("lockWaitNs", s => Nanoseconds(s.LockWaitTicks), (s, v) => s.LockWaitTicks = Ticks(v)),
        ("barriers", s => s.Barriers, (s, v) => s.Barriers = v),
        ("runtimeBarriers", s => s.RuntimeBarriers, (s, v) => s.RuntimeBarriers = v),
        ("barrierWaitNs", s => Nanoseconds(s.BarrierWaitTicks), (s, v) => s.BarrierWaitTicks = Ticks(v)),
        ("garbageCollections", s => s.GarbageCollections, (s, v) => s.GarbageCollections = v),
        ("messagesSent", s => s.MessagesSent, (s, v) => s.MessagesSent = v),
        ("bytesSent", s => s.BytesSent, (s, v) => s.BytesSent = v),
        ("mallocs", s => s.Mallocs, (s, v) => s.Mallocs = v),
        ("longestSilenceMs", s => s.LongestSilenceMs, (s, v) => s.LongestSilenceMs = v),
        ("dotnetGcPauseNs", s => (long)(s.GcPause.TotalMilliseconds * 1e6), (s, v) => s.GcPause = TimeSpan.FromMilliseconds(v / 1e6)),
        ("wallNs", s => (long)(s.Wall.TotalMilliseconds * 1e6), (s, v) => s.Wall = TimeSpan.FromMilliseconds(v / 1e6)),
    ];

    /// <summary>The drone's wall time from its start to its exit.</summary>
    public TimeSpan Wall { get; internal set; }

    /// <summary>The statistics a drone reported by name (<see cref="Fields"/>) and its messages by kind.</summary>
    internal static DroneStatistics From(IEnumerable<(string Name, long Value)> counters, IEnumerable<(string Kind, long Messages, long Bytes)> sent)
    {
        var statistics = new DroneStatistics();
        foreach (var (name, value) in counters)
        {
            if (Array.Find(Fields, f => f.Name == name) is { Set: { } set })
            {
                set(statistics, value);
            }
        }

        statistics.SentByKind = sent.GroupBy(k => k.Kind, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (g.Sum(k => k.Messages), g.Sum(k => k.Bytes)), StringComparer.Ordinal);
        return statistics;
    }

    /// <summary>Every count by its name (<see cref="Fields"/>).</summary>
    internal IEnumerable<(string Name, long Value)> Counters() => Fields.Select(f => (f.Name, f.Get(this)));

    /// <summary>The sum of several drones' statistics (the longest silence: the longest of all; wall time: the longest).</summary>
    public static DroneStatistics Total(IEnumerable<DroneStatistics> drones)
    {
        ArgumentNullException.ThrowIfNull(drones);
        var all = drones.ToList();
        var total = new DroneStatistics();
        foreach (var (name, get, set) in Fields)
        {
            set(total, name is "longestSilenceMs" or "wallNs" ? all.Select(get).DefaultIfEmpty().Max() : all.Sum(get));
        }

        total.SentByKind = all.SelectMany(d => d.SentByKind)
            .GroupBy(k => k.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (g.Sum(k => k.Value.Messages), g.Sum(k => k.Value.Bytes)), StringComparer.Ordinal);
        return total;
    }

    /// <summary>
    /// The statistics of a run: one column per drone and, for several, a total; a drone whose report did not reach drone 0
    /// (it failed, or left before it could send it) shows as "-".
    /// </summary>
    public static Table ToTable(IReadOnlyList<(int Drone, DroneStatistics? Stats)> drones)
    {
        ArgumentNullException.ThrowIfNull(drones);
        var columns = drones.Select(d => ($"drone {d.Drone}", d.Stats)).ToList();
        var reported = drones.Where(d => d.Stats is not null).Select(d => d.Stats!).ToList();
        if (drones.Count > 1)
        {
            columns.Add((reported.Count == drones.Count ? "total" : $"total ({reported.Count} of {drones.Count})", Total(reported)));
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumn("statistic");
        foreach (var (name, _) in columns)
        {
            table.AddColumn(new TableColumn(name).RightAligned());
        }

        foreach (var (name, value) in Rows)
        {
            var cells = new List<IRenderable> { new Text(name) };
            cells.AddRange(columns.Select(c => new Text(c.Stats is null ? "-" : value(c.Stats))));
            table.AddRow(cells);
        }

        foreach (var kind in reported.SelectMany(d => d.SentByKind.Keys).Distinct().Order(StringComparer.Ordinal))
        {
            var cells = new List<IRenderable> { new Text($"  sent {kind} (bytes)") };
            cells.AddRange(columns.Select(c => new Text(
                c.Stats is null ? "-" : c.Stats.SentByKind.TryGetValue(kind, out var sent) ? $"{Count(sent.Messages)} ({Count(sent.Bytes)})" : "0")));
            table.AddRow(cells);
        }

        return table;
    }

    /// <summary>
    /// The statistics of a run as JSON (<c>--stats-json</c>): each drone's counts by name (times in nanoseconds) and
    /// messages by kind, the total, and the drones whose report did not reach drone 0.
    /// </summary>
    public static void WriteJson(Stream stream, IReadOnlyList<(int Drone, DroneStatistics? Stats)> drones)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(drones);
        using var json = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartArray("drones");
        foreach (var (drone, stats) in drones.Where(d => d.Stats is not null))
        {
            json.WriteStartObject();
            json.WriteNumber("drone", drone);
            WriteCounts(json, stats!);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartObject("total");
        WriteCounts(json, Total(drones.Where(d => d.Stats is not null).Select(d => d.Stats!)));
        json.WriteEndObject();
        json.WriteStartArray("missing");
        foreach (var (drone, _) in drones.Where(d => d.Stats is null))
        {
            json.WriteNumberValue(drone);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteCounts(System.Text.Json.Utf8JsonWriter json, DroneStatistics stats)
    {
        foreach (var (name, value) in stats.Counters())
        {
            json.WriteNumber(name, value);
        }

        json.WriteStartObject("sentByKind");
        foreach (var (kind, (messages, bytes)) in stats.SentByKind.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            json.WriteStartObject(kind);
            json.WriteNumber("messages", messages);
            json.WriteNumber("bytes", bytes);
            json.WriteEndObject();
        }

        json.WriteEndObject();
    }

    private static long Nanoseconds(long ticks) => (long)(ticks * (1e9 / Stopwatch.Frequency));

    private static long Ticks(long nanoseconds) => (long)(nanoseconds * (Stopwatch.Frequency / 1e9));

    private static readonly (string Name, Func<DroneStatistics, string> Value)[] Rows =
    [
        ("read faults", s => Count(s.ReadFaults)),
        ("write faults", s => Count(s.WriteFaults)),
        ("twins made", s => Count(s.TwinsMade)),
        ("twins kept into a later interval", s => Count(s.TwinsKept)),
        ("intervals closed", s => Count(s.IntervalsClosed)),
        ("diffs made (bytes)", s => $"{Count(s.DiffsMade)} ({Count(s.DiffBytesMade)})"),
        ("diffs applied (bytes)", s => $"{Count(s.DiffsApplied)} ({Count(s.DiffBytesApplied)})"),
        ("miss time", s => Millis(s.MissTime)),
        ("write fault time (twins, diffs)", s => Millis(s.WriteFaultTime)),
        ("lock acquires local / remote", s => $"{Count(s.LockAcquiresLocal)} / {Count(s.LockAcquiresRemote)}"),
        ("lock wait", s => Millis(s.LockWait)),
        ("barriers (the program's)", s => Count(s.Barriers)),
        ("barrier wait", s => Millis(s.BarrierWait)),
        ("GC runs", s => Count(s.GarbageCollections)),
        ("messages sent (bytes)", s => $"{Count(s.MessagesSent)} ({Count(s.BytesSent)})"),
        ("mallocs", s => Count(s.Mallocs)),
        ("longest silence heard", s => $"{Count(s.LongestSilenceMs)} ms"),
        (".NET GC pause, all", s => Millis(s.GcPause)),
    ];

    private static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Millis(TimeSpan value) => value.TotalMilliseconds.ToString("N1", CultureInfo.InvariantCulture) + " ms";
}
