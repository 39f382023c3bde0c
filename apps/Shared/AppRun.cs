using System.Diagnostics;

namespace HiveMind.Apps;

/// <summary>What the apps' runs share: their shared blocks, and a timed part that counts the protocol messages of every drone.</summary>
internal static class AppRun
{
    /// <summary>
    /// Drone 0 allocates blocks of <paramref name="bytes"/> (each from a page boundary, so that no two share a page) and
    /// behind them a slot per drone for <see cref="Timed"/>; every drone learns the addresses (a collective call).
    /// </summary>
    public static (long[] Blocks, long Slots) Allocate(Drone drone, params long[] bytes)
    {
        var page = drone.Heap.PageSize;
        var rounded = bytes.Select(b => (b + page - 1) / page * page).ToArray();
        var at = Tmk.Distribute(drone.Id == 0 ? drone.Malloc(rounded.Sum() + (8L * drone.MaxDrones), page) : 0);
        var blocks = new long[bytes.Length];
        for (var i = 0; i < blocks.Length; i++)
        {
            blocks[i] = at;
            at += rounded[i];
        }

        return (blocks, at);
    }

    /// <summary>
    /// The sequential baseline and the machine's capacity, measured on drone 0 after barrier <paramref name="readyBarrier"/>
    /// while the other drones wait at the next one: after the timed part, or beside the others' set-up, drones beyond the
    /// machine's cores would slow them down. <paramref name="prepare"/> makes the private state (and runs any untimed
    /// warm-up), <paramref name="timed"/> is the computation the drones' timed part does; with <paramref name="capacity"/>
    /// it runs again on every core at once, each on a <paramref name="copy"/> made beforehand. Returns the state the timed
    /// run left (to compare the drones' result with; default on the other drones), its time and the capacity.
    /// </summary>
    public static (T? Expected, TimeSpan Sequential, double? Capacity) Baselines<T>(
        Drone drone, int readyBarrier, bool capacity, Func<T> prepare, Func<T, T> copy, Action<T> timed)
    {
        Tmk.Barrier(readyBarrier);
        if (drone.Id != 0)
        {
            return (default, TimeSpan.Zero, null);
        }

        var expected = prepare();
        var copies = capacity ? Enumerable.Range(0, Environment.ProcessorCount).Select(_ => copy(expected)).ToArray() : [];
        var started = Stopwatch.GetTimestamp();
        timed(expected);
        var sequential = Stopwatch.GetElapsedTime(started);
        return (expected, sequential, capacity ? Capacity.Measure(c => timed(copies[c]), sequential) : null);
    }

    /// <summary>
    /// The timed part: barrier <paramref name="barrier"/>, <paramref name="work"/>, each drone's protocol messages of it
    /// written to its slot, the barrier again. Returns the time from barrier to barrier and, on drone 0, the messages of
    /// every drone (0 on the others).
    /// </summary>
    public static (TimeSpan Time, long Messages) Timed(Drone drone, long slots, int barrier, Action work)
    {
        Tmk.Barrier(barrier);
        var started = Stopwatch.GetTimestamp();
        var before = drone.MessagesSent;
        work();
        drone.Heap.Write(slots + (8L * drone.Id), drone.MessagesSent - before);
        Tmk.Barrier(barrier);
        var time = Stopwatch.GetElapsedTime(started);
        return (time, drone.Id == 0 ? Enumerable.Range(0, drone.Count).Sum(d => drone.Heap.Read<long>(slots + (8L * d))) : 0);
    }
}
