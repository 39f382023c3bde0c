namespace HiveMind.Consistency;

/// <summary>What a traced event was.</summary>
internal enum TraceEventKind : byte
{
    /// <summary>The drone asked for a lock (its interval closed).</summary>
    AcquireAsked = 1,

    /// <summary>The drone holds the lock it asked for.</summary>
    AcquireGranted = 2,

    /// <summary>The drone released a lock (its interval closed).</summary>
    Release = 3,

    /// <summary>The drone arrived at a program barrier (its interval closed).</summary>
    BarrierArrived = 4,

    /// <summary>The program barrier released the drone.</summary>
    BarrierReleased = 5,

    /// <summary>An access miss brought pages up to date (the object is the first page).</summary>
    Miss = 6,
}

/// <summary>
/// One traced event of a drone: what it was, on which lock, barrier or page, and where it stands in the drone's intervals.
/// <paramref name="Interval"/> is the interval of this drone that holds the event, so that another drone knows of the event
/// once its vector timestamp reaches that interval: for an event that closes an interval (asking for a lock, releasing
/// it, arriving at a barrier), the interval it closed; for any other, the open one.
/// </summary>
/// <param name="Kind">What the event was.</param>
/// <param name="Object">The lock or barrier id, or the first page of a miss.</param>
/// <param name="Interval">The interval of this drone that holds the event.</param>
/// <param name="Timestamp">This drone's vector timestamp at the event.</param>
internal readonly record struct TraceEvent(TraceEventKind Kind, int Object, int Interval, int[] Timestamp);

/// <summary>
/// A drone's synchronization and miss events with their vector timestamps, for a happens-before log of the run
/// (<c>--trace</c>). While an engine traces (and the trace has room), every program synchronization closes an interval
/// even when nothing was written, so that vector timestamps order synchronizations as well as writes (the intervals'
/// statistics count these too). Recorded by the application thread (misses by any thread of the drone), in interval
/// order; bounded: events past <see cref="Capacity"/> are counted, not kept.
/// </summary>
internal sealed class ProtocolTrace(int capacity)
{
    private readonly List<TraceEvent> _events = [];
    private long _dropped;

    /// <summary>The most events kept.</summary>
    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A trace keeps at least one event.");

    /// <summary>Events past <see cref="Capacity"/>, not kept.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Whether the trace holds <see cref="Capacity"/> events (a traced drone then stops making intervals that only order it).</summary>
    public bool IsFull
    {
        get
        {
            lock (_events)
            {
                return _events.Count >= Capacity;
            }
        }
    }

    /// <summary>The events kept so far, in the order they happened.</summary>
    public IReadOnlyList<TraceEvent> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    internal void Record(TraceEvent traced)
    {
        lock (_events)
        {
            if (_events.Count < Capacity)
            {
                _events.Add(traced);
                return;
            }
        }

        Interlocked.Increment(ref _dropped);
    }
}
