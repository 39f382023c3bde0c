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
    public long ReadFaults { get; internal set; }

    public long WriteFaults { get; internal set; }

    public long TwinsMade { get; internal set; }

    public long TwinsKept { get; internal set; }

    public long IntervalsClosed { get; internal set; }

    public long DiffsMade { get; internal set; }

    public long DiffBytesMade { get; internal set; }

    public long DiffsApplied { get; internal set; }

    public long DiffBytesApplied { get; internal set; }

    public long LockAcquiresLocal { get; internal set; }

    public long LockAcquiresRemote { get; internal set; }

    public long LockWaitTicks { get; internal set; }

    /// <summary>The program's barriers (ids from 0).</summary>
    public long Barriers { get; internal set; }

    /// <summary>The runtime's own barriers: the start, the one behind each <see cref="Drone.Distribute(long)"/>, and the exit.</summary>
    public long RuntimeBarriers { get; internal set; }

    public long BarrierWaitTicks { get; internal set; }

    public long GarbageCollections { get; internal set; }

    public long MissTicks { get; internal set; }

    public long WriteFaultTicks { get; internal set; }

    public long MessagesSent { get; internal set; }

    public long BytesSent { get; internal set; }

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

    /// <summary>The statistics of several drones side by side, one column per drone.</summary>
    public static Table ToTable(IReadOnlyList<(int Drone, DroneStatistics Stats)> drones)
    {
        ArgumentNullException.ThrowIfNull(drones);
        var table = new Table().Border(TableBorder.Rounded).AddColumn("statistic");
        foreach (var (drone, _) in drones)
        {
            table.AddColumn(new TableColumn($"drone {drone}").RightAligned());
        }

        foreach (var (name, value) in Rows)
        {
            var cells = new List<IRenderable> { new Text(name) };
            cells.AddRange(drones.Select(d => new Text(value(d.Stats))));
            table.AddRow(cells);
        }

        foreach (var kind in drones.SelectMany(d => d.Stats.SentByKind.Keys).Distinct().Order(StringComparer.Ordinal))
        {
            var cells = new List<IRenderable> { new Text($"  sent {kind} (bytes)") };
            cells.AddRange(drones.Select(d => new Text(d.Stats.SentByKind.TryGetValue(kind, out var sent) ? $"{Count(sent.Messages)} ({Count(sent.Bytes)})" : "0")));
            table.AddRow(cells);
        }

        return table;
    }

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
        ("barriers", s => Count(s.Barriers)),
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
