namespace HiveMind.Memory;

/// <summary>
/// Slow-path state of one page: its twin and applied vector. The entry itself is the per-page lock that
/// guards work a mesh thread can race with (making a diff while the application faults on the page).
/// Created on first use, so pages that never fault cost one null reference.
/// </summary>
/// <remarks>SAFETY: <see cref="Twin"/> is a slot of the heap's <see cref="TwinPool"/>, valid while set here.</remarks>
public sealed unsafe class PageEntry
{
    internal PageEntry(int page) => Page = page;

    /// <summary>The page number this entry describes.</summary>
    public int Page { get; }

    /// <summary>The twin: a copy of the page taken at a write fault, or null.</summary>
    public byte* Twin { get; internal set; }

    /// <summary>
    /// The interval (of this drone) whose writes the twin tracks, while its diff is not yet made; 0 when the
    /// twin has no pending diff. Owned by the protocol engine, changed under the page lock.
    /// </summary>
    public int TwinInterval { get; set; }

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
