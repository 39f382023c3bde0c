using System.Diagnostics;
using HiveMind.Memory;

namespace HiveMind.Consistency;

/// <summary>
/// Garbage collection at barriers (PROTOCOL.md, "Garbage collection"): the pages this drone modified since the last
/// collection, the threshold of consistency data past which a drone asks for one, and the collection itself, which
/// validates those pages, drops every interval record, write notice, diff and twin, and leaves the pages this copy lacks
/// to be fetched whole from their holders. The holders map it makes (which drones hold each written page whole) is
/// kept here, for the whole-page fetches of the miss path and for the welcome of a drone that joins. It lives here,
/// though those two read it far more often, because it is what a collection leaves in place of the diffs it drops:
/// only a collection writes it (on a newcomer, the copy of drone 0's that comes with its welcome, at the end of the
/// collection that admits it), and nothing else may change it.
/// </summary>
/// <remarks>
/// <para>
/// Threads: <see cref="Collect"/> runs on the application thread, inside a barrier whose release asked for a
/// collection (it meets the collection's two barriers itself). <see cref="Modified"/> runs on the thread that closes an
/// interval; the holders are read by a faulting thread (<see cref="MissPath"/>), by the thread that admits newcomers on
/// drone 0 and set by a newcomer's application thread as it joins.
/// </para>
/// <para>
/// Guarded by the engine's gate: every method but <see cref="Collect"/> is called with it held, and
/// <see cref="Collect"/> takes it for what it reads and changes, except its first look at the pages modified since the
/// last collection. That look, and the validation misses it leads to (<see cref="MissPath.Miss(int)"/>, without the
/// engine's faults lock), rely on the program's side of the contract instead: a barrier is made by one thread after the
/// drone's other threads' accesses are done (README, "Threads of one drone"), so no other thread faults or closes an
/// interval meanwhile. Page entries are changed under their page locks, outside the gate.
/// </para>
/// </remarks>
internal sealed class Collector
{
    /// <summary>The first barrier of a collection: every drone has validated the pages it modified.</summary>
    public const int ValidatedBarrier = int.MinValue;

    /// <summary>The second barrier of a collection: every drone has dropped its records, notices, diffs and twins.</summary>
    public const int DroppedBarrier = int.MinValue + 1;

    private readonly LrcEngine _engine;
    private readonly object _gate;
    private readonly SharedHeap _heap;
    private readonly VectorTimestamp _vt;
    private readonly IntervalStore _store;
    private readonly HashSet<int> _modifiedSinceCollection = [];
    private readonly Dictionary<int, int[]> _holders = [];

    public Collector(LrcEngine engine, long threshold)
    {
        _engine = engine;
        _gate = engine.Gate;
        _heap = engine.Heap;
        _vt = engine.Vt;
        _store = engine.Store;
        Threshold = threshold;
    }

    /// <summary>The consistency data (bytes) past which this drone asks the next barrier for a collection.</summary>
    public long Threshold { get; }

    private int Self => _engine.Self;

    /// <summary>Access misses and the diffs made here (the engine's, looked up at each use).</summary>
    private MissPath MissPath => _engine.MissPath;

    /// <summary>Notes the pages an interval of this drone wrote. Caller holds the gate (and the faults lock).</summary>
    public void Modified(List<int> pages)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Collector.Modified: the caller holds the gate");
        Debug.Assert(Monitor.IsEntered(_engine.Faults), "Collector.Modified: the caller holds the faults lock");

        _modifiedSinceCollection.UnionWith(pages);
    }

    /// <summary>
    /// Garbage collection, after a barrier that brought every drone to the same VT: validate the pages this
    /// drone modified since the last collection and become a holder of them; barrier; drop every interval
    /// record, write notice, diff and twin, and mark the pages others modified that this copy lacks for a
    /// whole-page fetch; barrier. Without the second barrier a lock request right after collection could meet
    /// a drone that still holds old records and receive stale consistency information.
    /// </summary>
    public void Collect()
    {
        foreach (var page in _modifiedSinceCollection.ToList())
        {
            if (_heap.GetAccess(page) == PageAccess.NoAccess)
            {
                MissPath.Miss(page);
            }
        }

        Dictionary<int, int[]> holders;
        lock (_gate)
        {
            holders = _store.Noticed.ToDictionary(
                page => page,
                page => _store.Writers(page).Append(Self).Where(d => d != Self || _modifiedSinceCollection.Contains(page)).Distinct().Order().ToArray());
        }

        _engine.Meet(ValidatedBarrier, mayCollect: false);

        List<int> noticed, modified;
        lock (_gate)
        {
            noticed = [.. _store.Noticed];
            modified = [.. _modifiedSinceCollection];
            foreach (var (page, pageHolders) in holders)
            {
                _holders[page] = pageHolders;
            }

            _store.Collect(_vt.Entries.ToArray());
            MissPath.DropDiffs();
            _modifiedSinceCollection.Clear();
        }

        // Every twin and run goes with the diffs. A noticed page's valid copy is current (a newer notice would have
        // invalidated it); an invalid one lost its diffs and needs a whole page.
        foreach (var (pages, noticedPages) in new[] { (noticed, true), (modified, false) })
        {
            foreach (var page in pages)
            {
                var entry = _heap.GetEntry(page);
                lock (entry)
                {
                    entry.TwinInterval = 0;
                    entry.RunIntervals.Clear();
                    _heap.DropTwin(page);
                    entry.NeedsWholePage |= noticedPages && _heap.GetAccess(page) == PageAccess.NoAccess;
                }
            }
        }

        _heap.Twins.TrimIfIdle();
        _engine.Fault?.Invoke("collect");
        _engine.Meet(DroppedBarrier, mayCollect: false);
        _engine.Statistics.GarbageCollections++;
    }

    /// <summary>The drones that held <paramref name="page"/> whole at the last collection, if it was written before it. Caller holds the gate.</summary>
    public bool TryGetHolders(int page, out int[] holders)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Collector.TryGetHolders: the caller holds the gate");

        return _holders.TryGetValue(page, out holders!);
    }

    /// <summary>Sets the holders of <paramref name="page"/> (a newcomer learns them from its welcome). Caller holds the gate.</summary>
    public void SetHolders(int page, int[] holders)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Collector.SetHolders: the caller holds the gate");

        _holders[page] = holders;
    }

    /// <summary>The holders map as runs of consecutive pages with the same holders (an array is written by few drones in long stretches). Caller holds the gate.</summary>
    public PageHolders[] HolderRuns()
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Collector.HolderRuns: the caller holds the gate");

        var runs = new List<PageHolders>();
        foreach (var (page, holders) in _holders.OrderBy(h => h.Key))
        {
            if (runs.Count > 0 && runs[^1].First + runs[^1].Count == page && runs[^1].Holders.AsSpan().SequenceEqual(holders))
            {
                runs[^1] = runs[^1] with { Count = runs[^1].Count + 1 };
            }
            else
            {
                runs.Add(new PageHolders(page, 1, holders));
            }
        }

        return [.. runs];
    }
}
