using System.Globalization;
using Spectre.Console;

namespace HiveMind.Apps;

/// <summary>What an app's run measured: the timed part on the drones, the same computation sequentially, the capacity and the messages.</summary>
internal readonly record struct Measured(TimeSpan Parallel, TimeSpan Sequential, double? Capacity, long Messages, int Units, string Unit);

/// <summary>The report every app ends with: a table for people and one RESULT line for scripts (bench/speedup.sh), as QuickSort's.</summary>
internal static class AppReport
{
    /// <summary>
    /// Writes the table (<paramref name="rows"/> first, then the timings, speedup, capacity, messages and the check) and the
    /// RESULT line with <paramref name="fields"/> after the drone count.
    /// </summary>
    public static void Write(string title, Drone drone, IEnumerable<(string Name, string Value)> rows, string fields, Measured measured, string? mismatch)
    {
        var speedup = measured.Sequential.TotalSeconds / measured.Parallel.TotalSeconds;
        var table = new Table().Border(TableBorder.Rounded).AddColumns(title, "value");
        table.AddRow("drones", drone.Count.ToString(CultureInfo.InvariantCulture));
        foreach (var (name, value) in rows)
        {
            table.AddRow(Markup.Escape(name), Markup.Escape(value));
        }

        table.AddRow("time on drones", $"{measured.Parallel.TotalMilliseconds:F1} ms");
        table.AddRow("sequential, same data and order", $"{measured.Sequential.TotalMilliseconds:F1} ms");
        table.AddRow("speedup", $"{speedup:F2}x");
        if (measured.Capacity is { } c)
        {
            table.AddRow($"machine's capacity ({Environment.ProcessorCount} sequential runs at once)", $"{c:F2}x; speedup / capacity {speedup / c:F2}");
        }

        table.AddRow("protocol messages, timed part", $"{measured.Messages:N0} ({(double)measured.Messages / Math.Max(1, measured.Units):G3} per {measured.Unit})");

        // Drones that joined the run have ids past those it started with.
        var view = drone.View;
        var joined = view.Live.Concat(view.Removed).Count(d => d >= drone.Count);
        table.AddRow("drones failed / joined", $"{view.Removed.Count} / {joined}");
        table.AddRow("same as sequential", mismatch is null ? "yes" : $"NO: {Markup.Escape(mismatch)}");
        AnsiConsole.Write(table);
        AnsiConsole.WriteLine(mismatch is null ? "VERIFIED" : "VERIFICATION FAILED");
        var capacity = measured.Capacity is { } cap ? $" capacity={cap:F3} of_capacity={speedup / cap:F3}" : "";
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"RESULT drones={drone.Count} {fields} parallel_ms={measured.Parallel.TotalMilliseconds:F1} sequential_ms={measured.Sequential.TotalMilliseconds:F1} speedup={speedup:F3} verified={(mismatch is null ? 1 : 0)} failed={view.Removed.Count} joined={joined} messages={measured.Messages}{capacity}"));
    }
}
