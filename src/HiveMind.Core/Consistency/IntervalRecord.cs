namespace HiveMind.Consistency;

/// <summary>
/// What a drone knows of one interval of drone <see cref="Drone"/>: its index, its VT, and the pages it
/// modified (its write notices). Immutable once made; shared between the drones' stores.
/// </summary>
internal sealed class IntervalRecord
{
    private readonly int[] _pages;

    public IntervalRecord(int drone, int index, VectorTimestamp timestamp, ReadOnlySpan<int> pages)
    {
        ArgumentNullException.ThrowIfNull(timestamp);
        ArgumentOutOfRangeException.ThrowIfNegative(drone);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(index);
        if (drone >= timestamp.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(drone), drone, $"The VT spans {timestamp.Count} drones.");
        }

        if (timestamp[drone] != index)
        {
            throw new ArgumentException(
                $"Interval {index} of drone {drone} must carry its own index in its VT, not {timestamp[drone]}.", nameof(timestamp));
        }

        Drone = drone;
        Index = index;
        Timestamp = timestamp.Clone();
        _pages = pages.ToArray();
    }

    /// <summary>The drone whose interval this is.</summary>
    public int Drone { get; }

    /// <summary>The interval's index on its drone (1, 2, 3 ...).</summary>
    public int Index { get; }

    /// <summary>The interval's VT (a private copy).</summary>
    public VectorTimestamp Timestamp { get; }

    /// <summary>Pages modified in the interval.</summary>
    public ReadOnlySpan<int> Pages => _pages;

    /// <summary>The write notices of the interval, one per page.</summary>
    public IEnumerable<WriteNotice> WriteNotices
    {
        get
        {
            foreach (var page in _pages)
            {
                yield return new WriteNotice(page, Drone, Index);
            }
        }
    }

    /// <summary>True if <paramref name="timestamp"/> already knows this interval.</summary>
    public bool IsCoveredBy(VectorTimestamp timestamp)
    {
        ArgumentNullException.ThrowIfNull(timestamp);
        return timestamp.Covers(Drone, Index);
    }

    public override string ToString() => $"interval {Index} of drone {Drone} {Timestamp} ({_pages.Length} write notice(s))";
}
