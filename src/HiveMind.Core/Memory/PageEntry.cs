namespace HiveMind.Memory;

/// <summary>
/// Slow-path state of one page: its twin and applied vector. The entry itself is the per-page lock that
/// guards work a mesh thread can race with (making a diff while the application faults on the page).
/// Created on first use, so pages that never fault cost one null reference.
/// </summary>
/// <remarks>SAFETY: <see cref="Twin"/> is a slot of the heap's <see cref="TwinPool"/>, valid while set here.</remarks>
internal sealed unsafe class PageEntry
{
    internal PageEntry(int page) => Page = page;

    /// <summary>The page number this entry describes.</summary>
    public int Page { get; }

    /// <summary>The twin: a copy of the page taken at a write fault, or null.</summary>
    public byte* Twin { get; internal set; }

    /// <summary>
    /// The first interval (of this drone) whose writes the twin tracks, while its diff is not yet made; 0 when
    /// the twin has no pending diff. The twin may track a run of consecutive intervals (<see cref="RunIntervals"/>):
    /// a write fault on a page whose twin is pending and whose copy took in no foreign diff since keeps the twin.
    /// Owned by the protocol engine, changed under the page lock.
    /// </summary>
    public int TwinInterval { get; set; }

    /// <summary>The intervals of the twin's run in which the page was written (its write notices), ascending.</summary>
    public List<int> RunIntervals { get; } = [];

    /// <summary>
    /// Set by garbage collection on a page that others modified while this copy was invalid: the diffs that
    /// would bring it up to date are gone, so the next miss fetches the whole page from one of its holders.
    /// </summary>
    public bool NeedsWholePage { get; set; }

    /// <summary>True while the page holds a twin.</summary>
    public bool HasTwin => Twin != null;

    /// <summary>
    /// For each drone j, the highest interval of j whose modifications the local copy contains.
    /// Owned by the protocol engine; null until it first records one.
    /// </summary>
    public int[]? AppliedVector { get; set; }
}
