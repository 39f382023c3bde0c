using HiveMind.Consistency;
using HiveMind.Net.Codec;
using MessagePack;

namespace HiveMind.Wire;

/// <summary>
/// What one drone did in the run, sent to drone 0 as it leaves (<see cref="Drone.Exit"/>), so that drone 0 reports the
/// whole run: the statistics (<see cref="DroneStatistics.Fields"/>, by name), the messages and bytes it sent by kind, and,
/// in a traced run, its trace.
/// </summary>
/// <param name="Counters">Each statistic by its name.</param>
/// <param name="SentByKind">Messages and bytes sent, by message kind.</param>
/// <param name="TraceDropped">Trace events past the trace's capacity, not kept.</param>
/// <param name="Trace">The trace's events, in order (empty when the run is not traced).</param>
internal sealed record RunReport(
    IReadOnlyList<(string Name, long Value)> Counters,
    IReadOnlyList<(string Kind, long Messages, long Bytes)> SentByKind,
    long TraceDropped,
    IReadOnlyList<TraceEvent> Trace)
{
    // A report of a member gone wrong must not make drone 0 allocate what its frame does not hold.
    private const int MaxNames = 256;
    private const int MaxNameLength = 64;

    // The most trace events, and the most bytes their decoded timestamps may take, that a report may bring.
    private const int MaxTraceEvents = 1_000_000;
    private const long MaxTraceBytes = 256L << 20;

    /// <summary>The most trace events a report of a run of <paramref name="slots"/> drone slots may carry: a drone keeps no more.</summary>
    public static int MaxTraceEventsFor(int slots) => (int)Math.Min(MaxTraceEvents, MaxTraceBytes / (32 + (4L * slots)));

    /// <summary>Writes the report.</summary>
    public static void Write(ref MessagePackWriter writer, RunReport report)
    {
        writer.WriteArrayHeader(4);
        writer.WriteArrayHeader(report.Counters.Count);
        foreach (var (name, value) in report.Counters)
        {
            writer.WriteArrayHeader(2);
            writer.Write(name);
            writer.Write(value);
        }

        writer.WriteArrayHeader(report.SentByKind.Count);
        foreach (var (kind, messages, bytes) in report.SentByKind)
        {
            writer.WriteArrayHeader(3);
            writer.Write(kind);
            writer.Write(messages);
            writer.Write(bytes);
        }

        writer.Write(report.TraceDropped);
        writer.WriteArrayHeader(report.Trace.Count);
        foreach (var traced in report.Trace)
        {
            writer.WriteArrayHeader(4);
            writer.Write((byte)traced.Kind);
            writer.Write(traced.Object);
            writer.Write(traced.Interval);
            writer.WriteArrayHeader(traced.Timestamp.Length);
            foreach (var entry in traced.Timestamp)
            {
                writer.Write(entry);
            }
        }
    }

    /// <summary>Reads a report of a drone of a run of <paramref name="drones"/> slots.</summary>
    /// <exception cref="InvalidDataException">The body is not a report.</exception>
    public static RunReport Read(ref MessagePackReader reader, int drones)
    {
        try
        {
            return ReadFields(ref reader, drones);
        }
        catch (Exception error) when (MalformedInput.Is(error))
        {
            throw MalformedInput.Wrap(error, "RunReport");
        }
    }

    private static RunReport ReadFields(ref MessagePackReader reader, int drones)
    {
        ProtocolCodec.Fields(ref reader, 4, "RunReport");
        var counters = new (string, long)[Count(reader.ReadArrayHeader(), MaxNames, "statistics")];
        for (var i = 0; i < counters.Length; i++)
        {
            ProtocolCodec.Fields(ref reader, 2, "RunReport statistic");
            counters[i] = (Name(reader.ReadText()), reader.ReadInt64());
        }

        var sent = new (string, long, long)[Count(reader.ReadArrayHeader(), MaxNames, "message kinds")];
        for (var i = 0; i < sent.Length; i++)
        {
            ProtocolCodec.Fields(ref reader, 3, "RunReport message kind");
            sent[i] = (Name(reader.ReadText()), reader.ReadInt64(), reader.ReadInt64());
        }

        var dropped = reader.ReadInt64();
        var events = reader.ReadArrayHeader();
        if (events > MaxTraceEventsFor(drones))
        {
            throw new InvalidDataException($"RunReport holds {events} trace events of {drones} VT entries, at most {MaxTraceEventsFor(drones)} ({MaxTraceBytes >> 20} MiB)");
        }

        var trace = new TraceEvent[events];
        for (var i = 0; i < trace.Length; i++)
        {
            ProtocolCodec.Fields(ref reader, 4, "RunReport trace event");
            var kind = reader.ReadByte();
            if (!Enum.IsDefined((TraceEventKind)kind))
            {
                throw new InvalidDataException($"trace event {i} has an unknown kind {kind}");
            }

            var (id, interval) = (reader.ReadInt32(), reader.ReadInt32());
            var timestamp = new int[Count(reader.ReadArrayHeader(), drones, "VT entries")];
            if (timestamp.Length != drones)
            {
                throw new InvalidDataException($"trace event {i} has a VT of {timestamp.Length} entries in a run of {drones} drones");
            }

            for (var d = 0; d < drones; d++)
            {
                timestamp[d] = reader.ReadInt32() is >= 0 and var entry ? entry : throw new InvalidDataException($"trace event {i} has a negative VT entry");
            }

            trace[i] = new TraceEvent((TraceEventKind)kind, id, interval, timestamp);
        }

        return new RunReport(counters, sent, dropped, trace);
    }

    private static string Name(string? name) =>
        name is { Length: > 0 and <= MaxNameLength } ? name : throw new InvalidDataException($"RunReport name of {name?.Length ?? 0} characters (1 to {MaxNameLength})");

    private static int Count(int count, int most, string what) =>
        count <= most ? count : throw new InvalidDataException($"RunReport holds {count} {what}, at most {most}");
}
