using System.Diagnostics;

namespace HiveMind.Apps;

/// <summary>The machine's capacity baseline the apps measure in their own run.</summary>
internal static class Capacity
{
    /// <summary>
    /// Runs <paramref name="sequential"/> on every core at once (each call gets its copy's index, 0 to cores − 1, and must
    /// work on its own copy of the data) and returns the speedup the machine gives: cores × <paramref name="oneRun"/> (the
    /// time of one such run alone) ÷ the time they all took together.
    /// </summary>
    public static double Measure(Action<int> sequential, TimeSpan oneRun)
    {
        var cores = Environment.ProcessorCount;
        using var ready = new Barrier(cores + 1);
        var threads = Enumerable.Range(0, cores).Select(copy => new Thread(() =>
        {
            ready.SignalAndWait();
            sequential(copy);
        })
        { Name = $"capacity baseline {copy}" }).ToArray();
        Array.ForEach(threads, t => t.Start());
        ready.SignalAndWait();
        var started = Stopwatch.GetTimestamp();
        Array.ForEach(threads, t => t.Join());
        return cores * oneRun.TotalSeconds / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }
}
