using System.Globalization;
using System.Text;
using HiveMind.Consistency;

namespace HiveMind;

/// <summary>
/// A run's trace as a ShiViz log (<c>--trace</c>): ShiViz (https://bestchai.bitbucket.io/shiviz/) draws it as a
/// space-time diagram of the drones' lock, barrier and miss events in their happens-before order.
/// </summary>
/// <remarks>
/// The file is ShiViz's upload format: the parsing expression on the first line, an empty second line (one execution),
/// then one line per event: the drone ("drone3"), its vector clock as JSON, and what happened. The clocks count events:
/// each drone's own entry is 1 for its first event and grows by one per event, and its entry for another drone is how
/// many of that drone's events happened before, worked out from HiveMind's vector timestamps (an event is known to
/// another drone once that drone's timestamp covers the interval that holds the event).
/// </remarks>
internal static class ShiVizLog
{
    /// <summary>The parsing expression on the log's first line.</summary>
    public const string Expression = @"(?<host>\S+) (?<clock>\{[^}]*\}) (?<event>.*)";

    /// <summary>
    /// Writes the ShiViz log of <paramref name="traces"/>: each drone's events in order (and how many it did not keep, past
    /// its bound: the log then ends where that drone's kept events end, and others' clocks count only kept events).
    /// </summary>
    public static void Write(Stream stream, IReadOnlyDictionary<int, (IReadOnlyList<TraceEvent> Events, long Dropped)> traces)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(traces);
        using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\n" };
        writer.WriteLine(Expression);
        writer.WriteLine();

        // For each drone, the interval of each of its events, in order: the events of drone e that a timestamp V knows are
        // those up to the last whose interval is at most V[e].
        var intervals = traces.OrderBy(t => t.Key).Select(t => (Drone: t.Key, Intervals: t.Value.Events.Select(e => e.Interval).ToArray())).ToList();
        var clock = new StringBuilder();
        foreach (var (drone, (events, _)) in traces.OrderBy(t => t.Key))
        {
            for (var i = 0; i < events.Count; i++)
            {
                var traced = events[i];
                clock.Clear().Append('{');
                foreach (var (other, theirs) in intervals)
                {
                    var known = other == drone ? i + 1 : other < traced.Timestamp.Length ? Known(theirs, traced.Timestamp[other]) : 0;
                    if (known > 0)
                    {
                        clock.Append(clock.Length > 1 ? ", " : string.Empty).Append(CultureInfo.InvariantCulture, $"\"drone{other}\": {known}");
                    }
                }

                writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"drone{drone} {clock}}} {Describe(traced)}"));
            }
        }
    }

    /// <summary>What an event says in the log.</summary>
    public static string Describe(TraceEvent traced) => traced.Kind switch
    {
        TraceEventKind.AcquireAsked => $"acquire lock {traced.Object} asked",
        TraceEventKind.AcquireGranted => $"acquire lock {traced.Object} granted",
        TraceEventKind.Release => $"release lock {traced.Object}",
        TraceEventKind.BarrierArrived => $"barrier {traced.Object} arrived",
        TraceEventKind.BarrierReleased => $"barrier {traced.Object} released",
        TraceEventKind.Miss => $"miss page {traced.Object}",
        _ => traced.Kind.ToString(),
    };

    // How many of a drone's events (with these intervals, which never go down: a traced drone closes an interval at every
    // synchronization) lie in intervals up to `interval`.
    private static int Known(int[] intervals, int interval)
    {
        var (low, high) = (0, intervals.Length);
        while (low < high)
        {
            var middle = (low + high) >>> 1;
            (low, high) = intervals[middle] <= interval ? (middle + 1, high) : (low, middle);
        }

        return low;
    }
}
