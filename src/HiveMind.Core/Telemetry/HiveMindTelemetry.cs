using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace HiveMind.Telemetry;

/// <summary>
/// What HiveMind tells tools about a run, through .NET's own instrumentation: a <see cref="Meter"/> and an
/// <see cref="ActivitySource"/>, both named <see cref="Name"/>, so that <c>dotnet-counters</c>, <c>dotnet-trace</c> and
/// OpenTelemetry see them without HiveMind knowing any of them. Every measurement and activity carries the drone's id
/// as <see cref="DroneTag"/> (a process may hold several drones).
/// </summary>
/// <remarks>
/// Histograms (milliseconds): <c>hivemind.lock.wait</c> (one per acquire, tagged <c>hivemind.lock.remote</c>),
/// <c>hivemind.barrier.wait</c> (one per program barrier), <c>hivemind.miss.time</c> (one per access miss, which may
/// bring several pages). Counters, observed when a listener asks: <c>hivemind.faults</c> (tag <c>hivemind.access</c>:
/// read or write), <c>hivemind.diffs.made</c>, <c>hivemind.diffs.applied</c> and their bytes, <c>hivemind.gc.runs</c>,
/// <c>hivemind.messages.sent</c> and <c>hivemind.bytes.sent</c> (tag <c>hivemind.message.kind</c>). Activities:
/// <c>hivemind.acquire</c> (tag <c>hivemind.lock</c>), <c>hivemind.barrier</c> (tag <c>hivemind.barrier</c>) and
/// <c>hivemind.miss</c> (tag <c>hivemind.pages</c>). With no listener, each costs a check of a flag.
/// </remarks>
public static class HiveMindTelemetry
{
    /// <summary>The name of HiveMind's meter and activity source.</summary>
    public const string Name = "HiveMind";

    /// <summary>The tag with the drone's id on every measurement and activity.</summary>
    public const string DroneTag = "hivemind.drone";

    private static readonly string? Version = typeof(HiveMindTelemetry).Assembly.GetName().Version?.ToString();

    /// <summary>HiveMind's meter; the drone runtime adds its observed counters to it.</summary>
    public static Meter Meter { get; } = new(Name, Version);

    /// <summary>HiveMind's activity source: acquires, barriers and misses.</summary>
    public static ActivitySource Source { get; } = new(Name, Version);

    internal static Histogram<double> LockWait { get; } =
        Meter.CreateHistogram<double>("hivemind.lock.wait", "ms", "Time from asking for a lock to holding it, per acquire.");

    internal static Histogram<double> BarrierWait { get; } =
        Meter.CreateHistogram<double>("hivemind.barrier.wait", "ms", "Time from arriving at a program barrier to its release.");

    internal static Histogram<double> MissTime { get; } =
        Meter.CreateHistogram<double>("hivemind.miss.time", "ms", "Time to bring invalid pages up to date, per access miss.");

    /// <summary>Milliseconds between two <see cref="Stopwatch"/> timestamps.</summary>
    internal static double Milliseconds(long started, long ended) => (ended - started) * 1000.0 / Stopwatch.Frequency;
}
