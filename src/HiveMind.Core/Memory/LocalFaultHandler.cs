namespace HiveMind.Memory;

/// <summary>
/// The fault handler of a run with one drone: its copy of every page is the truth, so a read fault only
/// marks the page readable, and a write fault makes a twin, records the page in the interval's dirty set
/// and marks it writable. <see cref="CloseInterval"/> ends the interval as the protocol does: dirty pages
/// go back to ReadOnly so that the next write opens a new write notice; the twins stay.
/// No diffs are made: with one drone nobody ever asks for them.
/// </summary>
public sealed class LocalFaultHandler : IFaultHandler
{
    private readonly List<int> _dirty = [];

    /// <summary>Pages written in the current interval, in fault order.</summary>
    public IReadOnlyList<int> DirtyPages => _dirty;

    /// <summary>Twins made (one per write fault).</summary>
    public long TwinsMade { get; private set; }

    /// <summary>Intervals closed with a non-empty dirty set.</summary>
    public long IntervalsClosed { get; private set; }

    /// <inheritdoc/>
    public void OnFault(SharedHeap heap, int page, bool write)
    {
        ArgumentNullException.ThrowIfNull(heap);
        if (heap.GetAccess(page) == PageAccess.NoAccess)
        {
            heap.SetAccess(page, PageAccess.ReadOnly);
        }

        if (!write)
        {
            return;
        }

        heap.MakeTwin(page);
        TwinsMade++;
        _dirty.Add(page);
        heap.SetAccess(page, PageAccess.ReadWrite);
    }

    /// <summary>Ends the current interval; returns the number of pages it dirtied.</summary>
    public int CloseInterval(SharedHeap heap)
    {
        ArgumentNullException.ThrowIfNull(heap);
        var count = _dirty.Count;
        if (count == 0)
        {
            return 0;
        }

        foreach (var page in _dirty)
        {
            heap.SetAccess(page, PageAccess.ReadOnly);
        }

        _dirty.Clear();
        IntervalsClosed++;
        return count;
    }
}
