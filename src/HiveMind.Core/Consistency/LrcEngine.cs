using System.Buffers;
using System.Diagnostics;
using HiveMind.Diffs;
using HiveMind.Memory;
using HiveMind.Telemetry;

namespace HiveMind.Consistency;

/// <summary>
/// Lazy release consistency with multiple writers and lazy diffs, for one drone (PROTOCOL.md): intervals
/// closed at every acquire, release and barrier; write notices incorporated with invalidation; twins at write
/// faults; diffs made when asked for, at the next write fault, or before foreign diffs meet a twinned page;
/// access misses that ask each writer for all its missing diffs at once and apply them in happens-before
/// order; locks managed by drone <c>lock % N</c> with requests forwarded to the last requester; a
/// centralized barrier manager on drone 0.
/// </summary>
/// <remarks>
/// Threads: the application thread calls <see cref="Acquire"/>, <see cref="Release"/>, <see cref="Barrier"/>
/// and takes faults; it alone changes page access states. <see cref="Handle"/> runs on network threads and
/// only answers from what is stored (diffs, records) or hands results to the waiting application thread.
/// <see cref="_gate"/> guards the engine's tables; page locks (the page entries) guard twins and diffs, and
/// no thread waits on the network while it holds either.
/// </remarks>
internal sealed partial class LrcEngine : IRangeFaultHandler
{
    /// <summary>The drone that manages barriers.</summary>
    public const int BarrierManagerDrone = 0;

    /// <summary>Default garbage-collection threshold: consistency data of one drone, in bytes.</summary>
    public const long DefaultCollectionThreshold = 64L << 20;

    // The two barriers of a garbage collection: after validation, after the drop.
    private const int ValidatedBarrier = int.MinValue;
    internal const int DroppedBarrier = int.MinValue + 1;

    // Pages per diff request: a large range miss becomes a stream of requests to each writer, whose replies
    // are made, sent and received in parallel.
    public const int MaxPagesPerDiffRequest = 64;

    // Intervals one page of a diff request may name: a drone asks for a writer's intervals since the last collection.
    private const int MaxIntervalsPerRequest = 1 << 20;

    private readonly SharedHeap _heap;
    private readonly IDroneNetwork _network;
    private readonly object _gate = new();
    private readonly VectorTimestamp _vt;
    private readonly IntervalStore _store;
    private readonly Dictionary<(int Page, int Interval), CoveredDiff> _diffs = [];
    private readonly List<int> _dirty = [];

    // Serializes the faults of the drone's threads (several may fault at once between two synchronizations) and the
    // closing of an interval: a page's miss is made once, its twin before any thread writes it, and every written page
    // is in the interval's write notices. Held across a miss's network waits; never taken by the network's threads.
    private readonly object _faults = new();
    private readonly LockTable _locks;
    private readonly BarrierManager _barriers;
    private readonly TimeSpan _waitLimit;
    private readonly long _collectionThreshold;
    private readonly HashSet<int> _modifiedSinceCollection = [];
    private readonly Dictionary<int, int[]> _holders = [];
    private string? _aborted;
    private long _maxReplyBytes;
    private long _diffBytes;
    private int[] _managerKnows;
    private BarrierRelease? _release;

    /// <summary>
    /// Creates drone <paramref name="self"/>'s engine for a run of <paramref name="drones"/> drone slots, of which
    /// the first <paramref name="started"/> (all by default) take part from the start; the others are free for
    /// drones that join later (<see cref="JoinRun"/>). A newcomer's own engine starts with none live (0).
    /// </summary>
    public LrcEngine(
        int self, int drones, SharedHeap heap, IDroneNetwork network, TimeSpan? waitLimit = null, long collectionThreshold = DefaultCollectionThreshold, int? started = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(collectionThreshold);
        ArgumentNullException.ThrowIfNull(heap);
        ArgumentNullException.ThrowIfNull(network);
        if ((uint)self >= (uint)drones)
        {
            throw new ArgumentOutOfRangeException(nameof(self), self, $"drone id must be in [0, {drones})");
        }

        Self = self;
        Drones = drones;
        _heap = heap;
        _network = network;
        _waitLimit = waitLimit ?? Timeout.InfiniteTimeSpan;
        _collectionThreshold = collectionThreshold;
        _vt = new VectorTimestamp(drones);
        _managerKnows = new int[drones];
        _store = new IntervalStore(drones, heap.PageCount);
        _locks = new LockTable(this);
        _barriers = new BarrierManager(this);
        MaxReplyBytes = DefaultReplyBytes(heap.PageSize);
        InitializeMembership(started ?? drones);
        heap.FaultHandler = this;
        heap.DroneId = self;
    }

    public int Self { get; }

    public int Drones { get; }

    /// <summary>Bytes per page of the heap this engine keeps consistent.</summary>
    public int PageSize => _heap.PageSize;

    /// <summary>
    /// The most bytes of diffs one reply holds (beyond one diff, which always goes): a writer owes a reader more than
    /// that in several replies, so every reply fits the transport's frame limit whatever the history of the pages.
    /// </summary>
    public long MaxReplyBytes
    {
        get => Volatile.Read(ref _maxReplyBytes);
        set => Volatile.Write(ref _maxReplyBytes, value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "A reply holds at least one byte."));
    }

    /// <summary>
    /// The default of <see cref="MaxReplyBytes"/>: 1 MiB, and at least two pages. A reply holds at most this much, or one
    /// diff of any size (at most <see cref="PageDiff.MaxEncodedLength"/> of a page), plus a few bytes a diff and a page.
    /// </summary>
    public static long DefaultReplyBytes(int pageSize) => Math.Max(1L << 20, 2L * pageSize);

    /// <summary>The most bytes a diff reply's body can hold with a budget of <paramref name="replyBytes"/>, for a request of <paramref name="pages"/> pages at most.</summary>
    public static long MaxDiffReplyBytes(int pageSize, long replyBytes, int pages = MaxPagesPerDiffRequest) =>
        Math.Max(replyBytes, PageDiff.MaxEncodedLength(pageSize)) + (64L * pages) + 64;

    /// <summary>
    /// A fault hook for tests: called with the name of each fault point the engine reaches (<c>serve-diff</c> as a diff
    /// reply is made, <c>collect</c> between the two barriers of a garbage collection). Null in normal runs.
    /// </summary>
    public Action<string>? Fault { get; set; }

    /// <summary>How long a wait for another drone (a grant, a barrier, a recovery) may last: infinite unless a limit was set.</summary>
    public TimeSpan WaitLimit => _waitLimit;

    /// <summary>What this drone did (application-thread counters; network-thread ones are interlocked).</summary>
    public ProtocolStatistics Statistics { get; } = new();

    /// <summary>
    /// Consistency data held now: interval records, write notices, diffs and twins, in bytes. When any drone's
    /// passes the threshold, the next barrier collects it.
    /// </summary>
    public long ConsistencyBytes
    {
        get
        {
            lock (_gate)
            {
                return _store.RecordBytes + _store.NoticeBytes + _diffBytes + ((long)_heap.Twins.Rented * _heap.PageSize);
            }
        }
    }

    /// <summary>A copy of this drone's VT.</summary>
    public int[] Timestamp
    {
        get
        {
            lock (_gate)
            {
                return _vt.Entries.ToArray();
            }
        }
    }

    /// <summary>The monitor that guards the engine's tables and those of its components.</summary>
    internal object Gate => _gate;

    /// <summary>The heap this engine keeps consistent.</summary>
    internal SharedHeap Heap => _heap;

    /// <summary>This drone's VT. Guarded by <see cref="Gate"/>.</summary>
    internal VectorTimestamp Vt => _vt;

    /// <summary>This drone's interval records and write notices. Guarded by <see cref="Gate"/>.</summary>
    internal IntervalStore Store => _store;

    // ------------------------------------------------------------------ synchronization (application thread)

    /// <summary>The trace of this drone's synchronizations and misses (<c>--trace</c>), or null when it is not traced; set before the run starts.</summary>
    public ProtocolTrace? Trace { get; set; }

    /// <summary>Records a traced event: <paramref name="closing"/> for an event that has just closed an interval.</summary>
    internal void Traced(TraceEventKind kind, int id, bool closing)
    {
        if (Trace is not { } trace)
        {
            return;
        }

        // Read and recorded together: events go into the trace in the order their timestamps were read.
        lock (_gate)
        {
            trace.Record(new TraceEvent(kind, id, closing ? _vt[Self] : _vt[Self] + 1, _vt.Entries.ToArray()));
        }
    }

    /// <summary>Acquires <paramref name="lockId"/>: free if this drone released it last and nobody asked since (<see cref="LockTable.Acquire"/>).</summary>
    public void Acquire(int lockId) => _locks.Acquire(lockId);

    /// <summary>
    /// Acquires <paramref name="lockId"/> if no other drone holds it or asks for it: true, with the consistency of
    /// <see cref="Acquire"/>; false when this drone holds it or asks for it already, or when another drone does
    /// (<see cref="LockTable.TryAcquire"/>).
    /// </summary>
    public bool TryAcquire(int lockId) => _locks.TryAcquire(lockId);

    /// <summary>Releases <paramref name="lockId"/>, which this drone must hold; grants it to a waiting requester (<see cref="LockTable.Release"/>).</summary>
    public void Release(int lockId) => _locks.Release(lockId);

    /// <summary>
    /// Waits until every drone arrives at <paramref name="barrierId"/>, then sees all their writes. When some
    /// drone's consistency data passed the threshold, the barrier also collects garbage on every drone.
    /// </summary>
    public void Barrier(int barrierId)
    {
        if (barrierId >= 0)
        {
            // The runtime's own barriers (negative ids) are named by their callers (a Distribute, Exit).
            _heap.BeginSynchronization(SpanSynchronizationKind.Barrier, barrierId);
        }

        var started = Stopwatch.GetTimestamp();
        using var activity = barrierId >= 0 ? HiveMindTelemetry.Source.StartActivity("hivemind.barrier") : null;
        activity?.SetTag(HiveMindTelemetry.DroneTag, Self).SetTag("hivemind.barrier", barrierId);
        var release = Meet(barrierId, mayCollect: true);
        if (release.Collect)
        {
            Collect();
        }

        if (barrierId >= 0)
        {
            Traced(TraceEventKind.BarrierReleased, barrierId, closing: false);
        }

        Counted(barrierId, started);
    }

    /// <summary>Counts a barrier met: the program's (ids from 0) in its statistics and histogram, the runtime's own apart.</summary>
    private void Counted(int barrierId, long started)
    {
        var ended = Stopwatch.GetTimestamp();
        if (barrierId < 0)
        {
            Statistics.RuntimeBarriers++;
            return;
        }

        Statistics.Barriers++;
        Statistics.BarrierWaitTicks += ended - started;
        if (HiveMindTelemetry.BarrierWait.Enabled)
        {
            HiveMindTelemetry.BarrierWait.Record(HiveMindTelemetry.Milliseconds(started, ended), new KeyValuePair<string, object?>(HiveMindTelemetry.DroneTag, Self));
        }
    }

    /// <summary>
    /// A barrier that gives up after <paramref name="timeout"/>: false when not every drone arrived by then. For a
    /// run's last barrier only, where every drone has done its work and a drone that dies on its way out must not
    /// hold the others (they have stopped counting failures); the abandoned barrier is never met.
    /// </summary>
    public bool TryBarrier(int barrierId, TimeSpan timeout)
    {
        if (barrierId >= 0)
        {
            // An application barrier may become a garbage collection (to admit a newcomer), which cannot be abandoned.
            throw new ArgumentOutOfRangeException(nameof(barrierId), barrierId, "TryBarrier is for the runtime's own last barrier (a negative id).");
        }

        var started = Stopwatch.GetTimestamp();
        if (Meet(barrierId, mayCollect: false, giveUpAfter: timeout) is null)
        {
            return false;
        }

        Counted(barrierId, started);
        return true;
    }

    private BarrierRelease Meet(int barrierId, bool mayCollect) => Meet(barrierId, mayCollect, giveUpAfter: null)!;

    /// <summary>Arrives and waits for the release: at most the wait limit (then throws), or null after <paramref name="giveUpAfter"/>.</summary>
    private BarrierRelease? Meet(int barrierId, bool mayCollect, TimeSpan? giveUpAfter)
    {
        // The runtime's own barriers (the start, Distribute's, a collection's two) are not traced and force no interval.
        CloseInterval(barrierId >= 0 ? TraceEventKind.BarrierArrived : null, barrierId);
        _locks.TakeInPendingGrants();

        BarrierArrival arrival;
        var held = ConsistencyBytes;
        Statistics.PeakConsistencyBytes = Math.Max(Statistics.PeakConsistencyBytes, held);
        lock (_gate)
        {
            _release = null;
            // Only this drone's own new records, and those it holds of drones that are not live (removed, so they send
            // none): every live drone brings its own, so without removals no record reaches the manager twice (a removed
            // drone's may come from every drone that holds them). A drone removed while the round is under way leaves
            // records only others know; they come with the live drones' reports of the new view, and the manager
            // releases the round once it holds them.
            arrival = new BarrierArrival(
                barrierId, Self, _vt.Entries.ToArray(), RecordsBetween(_managerKnows, _vt, d => d == Self || !_live[d]), mayCollect && held > _collectionThreshold);
        }

        SendToManager(arrival);
        BarrierRelease release;
        lock (_gate)
        {
            if (giveUpAfter is { } limit)
            {
                if (!WaitUntil(() => _release is not null, limit))
                {
                    return null;
                }
            }
            else
            {
                WaitLocked(() => _release is not null, $"barrier {barrierId} did not complete");
            }

            release = _release!;
            _release = null;
            _managerKnows = release.Timestamp;
        }

        Incorporate(release.Timestamp, release.Intervals);
        return release;
    }

    /// <summary>
    /// Garbage collection, after a barrier that brought every drone to the same VT: validate the pages this
    /// drone modified since the last collection and become a holder of them; barrier; drop every interval
    /// record, write notice, diff and twin, and mark the pages others modified that this copy lacks for a
    /// whole-page fetch; barrier. Without the second barrier a lock request right after collection could meet
    /// a drone that still holds old records and receive stale consistency information.
    /// </summary>
    private void Collect()
    {
        foreach (var page in _modifiedSinceCollection.ToList())
        {
            if (_heap.GetAccess(page) == PageAccess.NoAccess)
            {
                Miss(page);
            }
        }

        Dictionary<int, int[]> holders;
        lock (_gate)
        {
            holders = _store.Noticed.ToDictionary(
                page => page,
                page => _store.Writers(page).Append(Self).Where(d => d != Self || _modifiedSinceCollection.Contains(page)).Distinct().Order().ToArray());
        }

        Meet(ValidatedBarrier, mayCollect: false);

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
            _diffs.Clear();
            _diffBytes = 0;
            _modifiedSinceCollection.Clear();
        }

        foreach (var page in noticed)
        {
            var entry = _heap.GetEntry(page);
            lock (entry)
            {
                entry.TwinInterval = 0;
                entry.RunIntervals.Clear();
                _heap.DropTwin(page);

                // A valid copy is current (a newer notice would have invalidated it); an invalid one lost its diffs.
                if (_heap.GetAccess(page) == PageAccess.NoAccess)
                {
                    entry.NeedsWholePage = true;
                }
            }
        }

        foreach (var page in modified)
        {
            var entry = _heap.GetEntry(page);
            lock (entry)
            {
                entry.TwinInterval = 0;
                entry.RunIntervals.Clear();
                _heap.DropTwin(page);
            }
        }

        _heap.Twins.TrimIfIdle();
        Fault?.Invoke("collect");
        Meet(DroppedBarrier, mayCollect: false);
        Statistics.GarbageCollections++;
    }

    // ------------------------------------------------------------------ faults (application thread)

    public void OnFault(SharedHeap heap, int page, bool write)
    {
        ArgumentNullException.ThrowIfNull(heap);
        if (Drones == 1)
        {
            // Alone, this drone's copy is the only one and nobody will ask for a diff: no twins, no notices.
            heap.SetAccess(page, write ? PageAccess.ReadWrite : PageAccess.ReadOnly);
            return;
        }

        lock (_faults)
        {
            // Another thread of this drone may have served this page while this one waited.
            var access = heap.GetAccess(page);
            if (write ? access == PageAccess.ReadWrite : access != PageAccess.NoAccess)
            {
                return;
            }

            OnFaultAlone(heap, page, write);
        }
    }

    /// <summary>One fault, with <see cref="_faults"/> held.</summary>
    private void OnFaultAlone(SharedHeap heap, int page, bool write)
    {
        if (heap.GetAccess(page) == PageAccess.NoAccess)
        {
            Miss(page);
            Statistics.ReadMisses += write ? 0 : 1;
        }

        if (!write)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var entry = heap.GetEntry(page);
        var open = _vt[Self] + 1;
        lock (entry)
        {
            if (entry.TwinInterval != 0 && entry.TwinInterval < open)
            {
                // The twin's run is closed and its diff not made, so this page took no write notice of another
                // drone since (the miss that follows one ends the run): the run goes on into this interval and one
                // diff will cover it all.
                entry.RunIntervals.Add(open);
                Statistics.TwinsKept++;
            }
            else if (entry.TwinInterval != open)
            {
                heap.MakeTwin(page);
                entry.TwinInterval = open;
                entry.RunIntervals.Clear();
                entry.RunIntervals.Add(open);
                Statistics.TwinsMade++;
            }
        }

        Statistics.WriteFaultTicks += Stopwatch.GetTimestamp() - started;
        _dirty.Add(page);
        heap.SetAccess(page, PageAccess.ReadWrite);
    }

    /// <summary>Brings an invalid page up to date: each writer's missing diffs, asked for at once, applied in happens-before order.</summary>
    private void Miss(int page) => Miss([page]);

    /// <summary>
    /// Brings invalid pages up to date together: every (writer, page) diff request of all of them goes out
    /// at once, so a range costs about one round trip instead of one per page.
    /// </summary>
    private void Miss(IReadOnlyList<int> pages)
    {
        // A writer that stops answering is waited out until the view removes it; then its diffs are skipped.
        var started = Stopwatch.GetTimestamp();
        using var activity = HiveMindTelemetry.Source.StartActivity("hivemind.miss");
        activity?.SetTag(HiveMindTelemetry.DroneTag, Self).SetTag("hivemind.pages", pages.Count);
        while (true)
        {
            try
            {
                MissOnce(pages);
                break;
            }
            catch (DroneUnreachableException error) when (error.Drone >= 0)
            {
                WaitUntilRemoved(error.Drone, error.Message);
            }
        }

        Traced(TraceEventKind.Miss, pages.Count > 0 ? pages[0] : -1, closing: false);
        var ended = Stopwatch.GetTimestamp();
        Statistics.MissTicks += ended - started;
        if (HiveMindTelemetry.MissTime.Enabled)
        {
            HiveMindTelemetry.MissTime.Record(HiveMindTelemetry.Milliseconds(started, ended), new KeyValuePair<string, object?>(HiveMindTelemetry.DroneTag, Self));
        }
    }

    private void MissOnce(IReadOnlyList<int> pages)
    {
        FetchWholePages(pages);

        // Nothing below changes a page until its diffs are in: a retry after a writer fails starts afresh.
        var adoptions = ChooseLiveCopies(pages);
        var diffsByPage = adoptions.ToDictionary(a => a.Key, a => a.Value.Own);

        // For each writer, the pages it wrote that this copy lacks and the intervals of those writes.
        var byWriter = new SortedDictionary<int, List<PageIntervals>>();
        lock (_gate)
        {
            foreach (var page in pages)
            {
                var applied = adoptions.TryGetValue(page, out var adoption) ? adoption.Applied : (_heap.GetEntry(page).AppliedVector ??= new int[Drones]);
                // Diffs that lived only on a removed drone are lost: the copy stays without them (LRC permits the older value).
                foreach (var (writer, intervals) in _store.Unapplied(page, applied, d => d != Self && _live[d]))
                {
                    (byWriter.TryGetValue(writer, out var list) ? list : byWriter[writer] = []).Add(new PageIntervals(page, intervals));
                }
            }

            Statistics.NoticesExamined = _store.NoticesExamined;
        }

        // One request per writer (in chunks, so that the writer's replies stream while this drone applies).
        var requests = new List<(int Drone, ProtocolMessage Request)>();
        foreach (var (writer, list) in byWriter)
        {
            foreach (var chunk in list.Chunk(MaxPagesPerDiffRequest))
            {
                requests.Add((writer, new DiffRequest(chunk)));
            }
        }

        // A reply holds at most MaxReplyBytes of diffs: what a writer still owes after one is asked for again, until
        // every interval asked for is covered. Last[(writer, page)]: the last interval of the writer's diffs received.
        var last = new Dictionary<(int Writer, int Page), int>();
        while (requests.Count > 0)
        {
            var replies = _network.RequestAll(requests);
            var again = new List<(int Drone, ProtocolMessage Request)>();
            for (var i = 0; i < requests.Count; i++)
            {
                var (writer, message) = requests[i];
                var request = (DiffRequest)message;
                if (replies[i] is not DiffReply reply || reply.Pages.Length > request.Pages.Length)
                {
                    throw new InvalidDataException($"Drone {Self}: drone {writer} answered a diff request for {request.Pages.Length} page(s) with {replies[i]}.");
                }

                var owed = new List<PageIntervals>();
                var received = 0;
                for (var p = 0; p < request.Pages.Length; p++)
                {
                    var (page, intervals) = request.Pages[p];
                    if (!last.TryGetValue((writer, page), out var covered))
                    {
                        covered = (adoptions.TryGetValue(page, out var adopted) ? adopted.Applied : _heap.GetEntry(page).AppliedVector!)[writer];
                    }

                    if (p < reply.Pages.Length)
                    {
                        var answer = reply.Pages[p];
                        CheckCoverage(writer, page, intervals, answer, covered);
                        var diffs = diffsByPage.TryGetValue(page, out var known) ? known : diffsByPage[page] = [];
                        foreach (var diff in answer.Diffs)
                        {
                            PageDiff.Validate(diff.Bytes.Span, _heap.PageSize);

                            // A diff of a run stands where the run's first interval stands in happens-before.
                            diffs.Add((Sum(RecordOf(writer, diff.First).Timestamp), writer, diff));
                            covered = diff.Last;
                            received++;
                        }

                        last[(writer, page)] = covered;
                    }

                    var missing = intervals.Where(k => k > covered).ToArray();
                    if (missing.Length > 0)
                    {
                        owed.Add(new PageIntervals(page, missing));
                    }
                }

                if (owed.Count > 0)
                {
                    if (received == 0)
                    {
                        throw new InvalidDataException($"Drone {Self}: drone {writer} answered a diff request for {request.Pages.Length} page(s) with no diff.");
                    }

                    Statistics.DiffRequestsContinued++;
                    again.Add((writer, new DiffRequest([.. owed])));
                }
            }

            requests = again;
        }

        foreach (var page in pages)
        {
            var entry = _heap.GetEntry(page);
            lock (entry)
            {
                // A miss means the page took write notices of other drones (or needs a whole copy): the run of a twin
                // this drone keeps ends here, even when the copy already holds every write noticed (a whole copy can
                // hold writes of intervals its drone learns only later). A run diff stands where its first interval
                // stands, so a run that went on past the notice would put this drone's later writes before the
                // noticed interval's. Our own pending diff also comes first, or foreign words would later be taken for
                // our writes.
                MakePendingDiff(entry);
                if (diffsByPage.TryGetValue(page, out var diffs))
                {
                    // A linear extension of happens-before: a dominated VT has a smaller sum; ties are concurrent.
                    diffs.Sort((a, b) => a.Order != b.Order ? a.Order.CompareTo(b.Order) : a.Drone != b.Drone ? a.Drone.CompareTo(b.Drone) : a.Diff.First.CompareTo(b.Diff.First));
                    CheckApplyOrder(page, diffs);
                    if (adoptions.TryGetValue(page, out var adoption))
                    {
                        // The live copy that holds most of the removed drones' writes becomes the base; our own
                        // writes it lacks are among the diffs applied next, in happens-before order.
                        adoption.Bytes?.CopyTo(_heap.PageBytes(page));
                        entry.AppliedVector = adoption.Applied;
                    }

                    var applied = entry.AppliedVector!;
                    foreach (var (_, drone, diff) in diffs)
                    {
                        _heap.ApplyDiff(page, diff.Bytes.Span);

                        // The run may reach past the intervals asked for: those writes are in now, never to be applied again.
                        applied[drone] = Math.Max(applied[drone], diff.Last);
                        Statistics.DiffsApplied++;
                        Statistics.DiffBytesApplied += diff.Bytes.Length;
                    }
                }
            }

            _heap.SetAccess(page, PageAccess.ReadOnly);
        }
    }

    /// <summary>
    /// Checks a writer's answer for one page: diffs in interval order, runs that do not overlap and start after
    /// <paramref name="covered"/> (what this copy or earlier replies hold), and every interval asked for up to the last
    /// diff's covered (a reply may stop early, but never skip one).
    /// </summary>
    private void CheckCoverage(int writer, int page, int[] intervals, PageDiffs answer, int covered)
    {
        var previous = covered;
        foreach (var diff in answer.Diffs)
        {
            if (diff.First <= previous || diff.Last < diff.First)
            {
                throw new InvalidDataException(
                    $"Drone {Self}: drone {writer} sent a diff of page {page} for intervals {diff.First}..{diff.Last}, which overlaps its earlier diffs or interval {covered} this copy holds.");
            }

            previous = diff.Last;
        }

        if (answer.Page != page || !intervals.All(k => k <= covered || k > previous || answer.Diffs.Any(d => d.First <= k && k <= d.Last)))
        {
            throw new InvalidDataException(
                $"Drone {Self}: drone {writer} answered the request for page {page}, intervals [{string.Join(", ", intervals)}], with page {answer.Page} runs [{string.Join(", ", answer.Diffs.Select(d => $"{d.First}..{d.Last}"))}].");
        }
    }

    /// <summary>
    /// Checks that applying <paramref name="diffs"/> in their order respects happens-before among every interval
    /// this drone knows in them: no diff may come after one that holds a write it happens-before. A diff of a run
    /// that jumped over another writer's diff of the same page (a foreign diff its writer applied inside the
    /// run) would fail here rather than overwrite newer words.
    /// </summary>
    private void CheckApplyOrder(int page, List<(long Order, int Drone, CoveredDiff Diff)> diffs)
    {
        if (diffs.TrueForAll(d => d.Drone == diffs[0].Drone))
        {
            return; // one writer's runs are in interval order
        }

        List<IntervalRecord> Known((long Order, int Drone, CoveredDiff Diff) d)
        {
            var known = new List<IntervalRecord>();
            lock (_gate)
            {
                for (var k = d.Diff.First; k <= Math.Min(d.Diff.Last, _vt[d.Drone]); k++)
                {
                    if (_store.TryGet(d.Drone, k, out var record) && record.Pages.Contains(page))
                    {
                        known.Add(record);
                    }
                }
            }

            return known;
        }

        var intervals = diffs.Select(Known).ToList();
        for (var later = 1; later < diffs.Count; later++)
        {
            for (var earlier = 0; earlier < later; earlier++)
            {
                if (diffs[earlier].Drone == diffs[later].Drone)
                {
                    continue; // one writer's runs are in interval order
                }

                foreach (var after in intervals[earlier])
                {
                    foreach (var before in intervals[later])
                    {
                        if (after.Timestamp[before.Drone] >= before.Index)
                        {
                            throw new InvalidOperationException(
                                $"Drone {Self}: page {page}: drone {before.Drone}'s interval {before.Index} happens before drone {after.Drone}'s interval {after.Index}, but its diff (intervals {diffs[later].Diff.First}..{diffs[later].Diff.Last}) would be applied after.");
                        }
                    }
                }
            }
        }
    }

    /// <summary>Faults in a range of pages: the invalid ones are brought up to date together, then each is made writable if asked.</summary>
    public void OnFaults(SharedHeap heap, int first, int last, bool write)
    {
        ArgumentNullException.ThrowIfNull(heap);
        lock (_faults)
        {
            OnFaultsAlone(heap, first, last, write);
        }
    }

    private void OnFaultsAlone(SharedHeap heap, int first, int last, bool write)
    {
        if (Drones > 1)
        {
            var invalid = new List<int>();
            for (var page = first; page <= last; page++)
            {
                if (heap.GetAccess(page) == PageAccess.NoAccess)
                {
                    invalid.Add(page);
                }
            }

            if (invalid.Count > 1)
            {
                Miss(invalid);
                Statistics.ReadMisses += write ? 0 : invalid.Count;
            }
        }

        for (var page = first; page <= last; page++)
        {
            if (write ? heap.GetAccess(page) != PageAccess.ReadWrite : heap.GetAccess(page) == PageAccess.NoAccess)
            {
                OnFault(heap, page, write);
            }
        }
    }

    /// <summary>The copy of <paramref name="page"/> with the most writes (by applied vector) among the live drones that have one, or null.</summary>
    private PageReply? NewestLiveCopy(int page) => LiveCopies(page).MaxBy(copy => copy.Applied.Sum(a => (long)a));

    /// <summary>
    /// The copies of <paramref name="page"/> the other live drones have, asked for one drone at a time (failure paths
    /// only): a drone without one (it lost its own to garbage collection) or failing too (its own view change follows)
    /// is passed over.
    /// </summary>
    private IEnumerable<PageReply> LiveCopies(int page)
    {
        int[] others;
        lock (_gate)
        {
            others = LiveDrones().Where(d => d != Self).ToArray();
        }

        foreach (var drone in others)
        {
            ProtocolMessage answer;
            try
            {
                answer = _network.RequestAll([(drone, new PageRequest(page))])[0];
            }
            catch (DroneUnreachableException)
            {
                continue;
            }

            if (answer is PageReply reply && IsCopyOf(reply, page))
            {
                yield return reply;
            }
        }
    }

    /// <summary>Whether <paramref name="reply"/> is a whole copy of <paramref name="page"/> with an applied vector of this run.</summary>
    private bool IsCopyOf(PageReply reply, int page) =>
        reply.Page == page && reply.Bytes.Length == _heap.PageSize && reply.Applied.Length == Drones;

    /// <summary>Makes <paramref name="copy"/> (or, when null, the stale copy) what this drone's page holds; it needs no whole page any more.</summary>
    private void InstallCopy(int page, PageReply? copy)
    {
        var entry = _heap.GetEntry(page);
        lock (entry)
        {
            if (copy is not null)
            {
                copy.Bytes.CopyTo(_heap.PageBytes(page));
                entry.AppliedVector = copy.Applied;
            }

            entry.NeedsWholePage = false;
        }
    }

    /// <summary>
    /// Replaces this drone's copies of the pages that need it (after garbage collection, or on a drone that joined)
    /// with their holders' copies and applied vectors: all requests at once, a holder per page chosen so that the
    /// fetches of one page spread over its holders. A holder that stops answering is waited out until the view
    /// removes it, and its pages go to the others.
    /// </summary>
    private void FetchWholePages(IReadOnlyList<int> pages)
    {
        while (true)
        {
            var requests = new List<(int Drone, ProtocolMessage Request)>();
            var orphans = new List<int>();
            lock (_gate)
            {
                foreach (var page in pages)
                {
                    if (!_heap.GetEntry(page).NeedsWholePage)
                    {
                        continue;
                    }

                    var holders = _holders.TryGetValue(page, out var known) ? known.Where(h => h != Self && IsLive(h)).ToArray() : [];
                    if (holders.Length == 0)
                    {
                        orphans.Add(page);
                    }
                    else
                    {
                        requests.Add((holders[Self % holders.Length], new PageRequest(page)));
                    }
                }
            }

            // Pages whose holders have all failed: the newest copy a live drone has (a drone that joined since has
            // none of its own), else the stale copy, which is what the page now holds.
            foreach (var page in orphans)
            {
                var copy = NewestLiveCopy(page);
                InstallCopy(page, copy);
                Statistics.PagesAdopted += copy is null ? 0 : 1;
                Statistics.PagesResurrected += copy is null ? 1 : 0;
            }

            try
            {
                foreach (var chunk in requests.Chunk(MaxPagesPerDiffRequest))
                {
                    var replies = _network.RequestAll(chunk);
                    for (var i = 0; i < chunk.Length; i++)
                    {
                        var (holder, request) = chunk[i];
                        var page = ((PageRequest)request).Page;
                        if (replies[i] is not PageReply reply || !IsCopyOf(reply, page))
                        {
                            throw new InvalidDataException($"Drone {Self}: drone {holder} answered the request for page {page} with something else.");
                        }

                        InstallCopy(page, reply);
                        Statistics.WholePagesFetched++;
                    }
                }

                return;
            }
            catch (DroneUnreachableException error) when (error.Drone >= 0)
            {
                WaitUntilRemoved(error.Drone, $"whole pages ({requests.Count} asked)");
            }
        }
    }

    /// <summary>
    /// Makes the diff of the twin's run up to its last closed interval, if it has not been made. When the run is
    /// closed the twin goes. When it goes on in the open interval, the diff covers the closed intervals and the
    /// twin, which encoding brought up to what it read, then tracks the open interval alone: the encoder reads the
    /// live page, so a write racing with it is either in this diff or in the next (PageDiff), and an open-interval
    /// word that lands in this diff is one that no race-free reader of the closed intervals reads.
    /// Caller holds the page lock.
    /// </summary>
    private void MakePendingDiff(PageEntry entry)
    {
        if (entry.TwinInterval == 0)
        {
            return;
        }

        var closed = ClosedIntervals();
        var run = entry.RunIntervals;
        var covered = run.Count;
        while (covered > 0 && run[covered - 1] > closed)
        {
            covered--;
        }

        if (covered == 0)
        {
            return; // the twin of the open interval
        }

        Debug.Assert(run[0] == entry.TwinInterval, "a run starts at its twin's interval");
        var buffer = ArrayPool<byte>.Shared.Rent(PageDiff.MaxEncodedLength(_heap.PageSize));
        var length = _heap.MakeDiff(entry.Page, buffer);
        var diff = new CoveredDiff(run[0], run[covered - 1], buffer.AsSpan(0, length).ToArray());
        ArrayPool<byte>.Shared.Return(buffer);
        lock (_gate)
        {
            for (var i = 0; i < covered; i++)
            {
                _diffs[(entry.Page, run[i])] = diff;
            }

            _diffBytes += length;
        }

        Statistics.CountDiffMade(length);
        run.RemoveRange(0, covered);
        if (run.Count > 0)
        {
            entry.TwinInterval = run[0];
        }
        else
        {
            entry.TwinInterval = 0;
            _heap.DropTwin(entry.Page);
        }
    }

    private int ClosedIntervals()
    {
        lock (_gate)
        {
            return _vt[Self];
        }
    }

    // ------------------------------------------------------------------ intervals

    /// <summary>Ends the current interval if it wrote anything: a new interval record, dirty pages back to ReadOnly.</summary>
    private void CloseInterval() => CloseInterval(traced: null, 0);

    /// <summary>
    /// Closes the interval and, in a traced run, records the program's synchronization <paramref name="traced"/> that
    /// closes it, with the faults of the drone's other threads held off: their misses are recorded before the close or
    /// after it, never between, so a drone's events are in interval order. A traced synchronization closes an interval
    /// even when nothing was written (while the trace has room), so that vector timestamps order synchronizations too.
    /// </summary>
    internal void CloseInterval(TraceEventKind? traced, int id)
    {
        lock (_faults)
        {
            CloseIntervalAlone(force: traced is not null && Trace is { IsFull: false });
            if (traced is { } kind)
            {
                Traced(kind, id, closing: true);
            }
        }
    }

    private void CloseIntervalAlone(bool force = false)
    {
        if (_dirty.Count == 0 && !force)
        {
            return; // nothing written: no interval
        }

        lock (_gate)
        {
            var index = _vt.Increment(Self);
            var record = new IntervalRecord(Self, index, _vt, [.. _dirty]);
            _store.Store(record);
            _modifiedSinceCollection.UnionWith(_dirty);
            _store.Written(_dirty);
        }

        foreach (var page in _dirty)
        {
            _heap.SetAccess(page, PageAccess.ReadOnly);
        }

        _dirty.Clear();
        Statistics.IntervalsClosed++;
    }

    /// <summary>Takes in what <paramref name="timestamp"/> knows: stores the records, notes their write notices, invalidates their pages.</summary>
    internal void Incorporate(int[] timestamp, IntervalRecord[] records)
    {
        var invalid = new List<int>();
        lock (_gate)
        {
            foreach (var record in records)
            {
                _store.Store(record);
            }

            // Every record first, then the notices: a missing one changes nothing (the notices of a writer's page go in
            // interval order, once each).
            var noticed = new List<IntervalRecord>();
            for (var drone = 0; drone < Drones; drone++)
            {
                for (var index = _vt[drone] + 1; index <= timestamp[drone]; index++)
                {
                    noticed.Add(RecordOf(drone, index));
                }
            }

            foreach (var record in noticed)
            {
                foreach (var page in record.Pages)
                {
                    _store.Notice(page, record.Drone, record.Index);
                    invalid.Add(page);
                }
            }

            for (var drone = 0; drone < Drones; drone++)
            {
                if (timestamp[drone] > _vt[drone])
                {
                    _vt.Set(drone, timestamp[drone]);
                }
            }
        }

        foreach (var page in invalid)
        {
            _heap.SetAccess(page, PageAccess.NoAccess);
        }
    }

    private IntervalRecord RecordOf(int drone, int index)
    {
        lock (_gate)
        {
            return _store.TryGet(drone, index, out var record)
                ? record
                : throw new InvalidOperationException($"Drone {Self} has no record of interval {index} of drone {drone}.");
        }
    }

    /// <summary>The records this drone knows that <paramref name="timestamp"/> does not cover.</summary>
    private IntervalRecord[] RecordsNotCoveredBy(int[] timestamp) => RecordsBetween(timestamp, _vt);

    /// <summary>
    /// Ends the run for this drone: every wait under way or to come throws a <see cref="RunAbortedException"/> naming
    /// <paramref name="reason"/>. For what no view change can mend: the barrier manager (drone 0) failed, this drone was
    /// removed, or a drone failed in a run that does not recover from failures. The first reason stays.
    /// </summary>
    public void Abort(string reason)
    {
        lock (_gate)
        {
            _aborted ??= reason;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Why the run ended for this drone (<see cref="Abort"/>), or null while it goes on.</summary>
    public string? AbortReason => Volatile.Read(ref _aborted);

    /// <summary>Sends to the barrier manager, without which the run cannot go on: when it cannot be reached the run is aborted.</summary>
    private void SendToManager(ProtocolMessage message)
    {
        try
        {
            _network.Send(BarrierManagerDrone, message);
        }
        catch (DroneUnreachableException error)
        {
            Abort($"drone 0 failed ({error.Message})");
            ThrowIfAborted();
        }
    }

    /// <summary>Throws when the run was aborted. Caller holds <see cref="_gate"/> or not.</summary>
    private void ThrowIfAborted()
    {
        if (Volatile.Read(ref _aborted) is { } reason)
        {
            throw new RunAbortedException($"Drone {Self} cannot go on: {reason}.");
        }
    }

    /// <summary>Waits under <see cref="_gate"/> until <paramref name="done"/>; false when <paramref name="limit"/> passes first. Throws once the run is aborted.</summary>
    private bool WaitUntil(Func<bool> done, TimeSpan limit)
    {
        if (limit == Timeout.InfiniteTimeSpan)
        {
            // No blind limit: the drones waited for are in the view, and a failure changes the view (or, for drone 0 and
            // for runs that do not recover, aborts the run), which ends the wait.
            while (!done())
            {
                ThrowIfAborted();
                Monitor.Wait(_gate);
            }

            return true;
        }

        var deadline = DateTime.UtcNow + limit;
        while (!done())
        {
            ThrowIfAborted();
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            Monitor.Wait(_gate, left);
        }

        return true;
    }

    /// <summary>
    /// Waits on <see cref="_gate"/> (which the caller holds) until <paramref name="done"/> holds, at most the wait
    /// limit; then throws a <see cref="TimeoutException"/> saying that <paramref name="what"/>.
    /// </summary>
    internal void WaitLocked(Func<bool> done, string what)
    {
        if (!WaitUntil(done, _waitLimit))
        {
            throw new TimeoutException($"Drone {Self}: {what} within the wait limit of {_waitLimit.TotalSeconds:0.###} s (--wait-limit).");
        }
    }

    // ------------------------------------------------------------------ incoming (network threads)

    /// <summary>
    /// Handles a one-way message from another drone (or this one), on a network thread: it never waits on the network
    /// or on another drone (what it sends is queued). Requests go to <see cref="Serve"/>.
    /// </summary>
    public void Handle(int from, ProtocolMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);

        // A lock request coming in says so before it takes the gate: an application thread that polls a lock (takes and
        // releases it in a loop) lets it in first, instead of winning the gate again and again (a monitor is not fair).
        var lockId = message switch
        {
            LockRequest request => request.Lock,
            ForwardedLockRequest forwarded => forwarded.Request.Lock,
            _ => -1,
        };
        if (lockId < 0)
        {
            HandleMessage(from, message);
            return;
        }

        ref var arriving = ref _locks.ArrivingRequests(lockId);
        Interlocked.Increment(ref arriving);
        try
        {
            HandleMessage(from, message);
        }
        finally
        {
            Interlocked.Decrement(ref arriving);
        }
    }

    private void HandleMessage(int from, ProtocolMessage message)
    {

        // Who may say what, as far as it does not depend on the view: checked before anything may wait for its sender's
        // admission, so that a drone never admitted (a key holder gone wrong) cannot leave it unseen.
        if (!MaySay(from, message))
        {
            throw new InvalidDataException($"Drone {Self}: unexpected {message.GetType().Name} from drone {from}.");
        }

        CheckWriteNotices(from, message);

        // Joining happens outside the view: the newcomer is in none yet.
        if (message is JoinWelcome welcome)
        {
            OnWelcome(welcome);
            return;
        }

        if (message is JoinRequest join)
        {
            OnJoinRequest(from, join);
            return;
        }

        // A drone outside the view has been declared failed: whatever it still sends is refused. A newcomer may
        // speak first (its welcome and this drone's view change take different links): see HoldUntilAdmitted.
        if (!IsLive(from) && from != Self && !HoldUntilAdmitted(from, message))
        {
            return;
        }

        switch (message)
        {
            case LockRequest request when request.Requester == from:
                _locks.Manage(from, request);
                return;
            case ForwardedLockRequest forwarded:
                _locks.OnForwarded(from, forwarded, forwarded.Request, forwarded.View);
                return;
            case Suspicion suspicion when suspicion.Reporter == from:
                OnSuspicion(suspicion);
                return;
            case ViewChange change when from == BarrierManagerDrone:
                OnViewChange(change);
                return;
            case LockReport report when report.Drone == from:
                OnLockReport(report);
                return;
            case LockReset reset when from == BarrierManagerDrone:
                OnLockReset(reset);
                return;
            case LockGrant grant:
                _locks.OnGrant(from, grant);
                return;
            case LockBusy busy:
                _locks.OnBusy(from, busy);
                return;
            case BarrierArrival arrival when arrival.Drone == from:
                _barriers.OnArrival(arrival);
                return;
            case BarrierRelease release when from == BarrierManagerDrone:
                lock (_gate)
                {
                    _release = release;
                    Monitor.PulseAll(_gate);
                }

                return;
            default:
                throw new InvalidDataException($"Drone {Self}: unexpected {message.GetType().Name} from drone {from}.");
        }
    }

    /// <summary>
    /// Who may say what, as far as the view does not matter: the fields of a one-way message that name a drone name its
    /// sender, what only the barrier manager sends comes from it, join requests go to it, and requests and replies never
    /// come one-way. A forwarded request (its manager) and a grant (its ticket) are checked against the view as they are handled.
    /// </summary>
    private bool MaySay(int from, ProtocolMessage message) => message switch
    {
        LockRequest m => m.Requester == from,
        Suspicion m => m.Reporter == from,
        LockReport m => m.Drone == from,
        BarrierArrival m => m.Drone == from,
        JoinRequest m => m.Drone == from && Self == BarrierManagerDrone,
        ViewChange or LockReset or BarrierRelease or JoinWelcome => from == BarrierManagerDrone,
        ForwardedLockRequest or LockGrant or LockBusy => true,
        _ => false,
    };

    /// <summary>
    /// Throws when an interval record of <paramref name="message"/> holds a write notice of a page outside the heap:
    /// records travel on to every drone (with a barrier's release, say), and such a notice would fail the application
    /// thread of each as it incorporates it.
    /// </summary>
    private void CheckWriteNotices(int from, ProtocolMessage message)
    {
        IEnumerable<IntervalRecord> records = message switch
        {
            LockGrant m => m.Intervals,
            BarrierArrival m => m.Intervals,
            BarrierRelease m => m.Intervals,
            LockReport m => m.Intervals,
            LockReset m => m.Locks.SelectMany(a => a.Grant?.Intervals ?? []),
            _ => [],
        };
        foreach (var record in records)
        {
            foreach (var page in record.Pages)
            {
                if ((uint)page >= (uint)_heap.PageCount)
                {
                    throw new InvalidDataException(
                        $"Drone {Self}: {message.GetType().Name} from drone {from} holds a write notice of interval {record.Index} of drone {record.Drone} for page {page}, outside the heap of {_heap.PageCount} pages.");
                }
            }
        }
    }

    /// <summary>
    /// Answers a request of another drone (a page, diffs), on a network thread; never waits. Returns null when the
    /// asker is a newcomer this drone has not yet seen admitted (its welcome and this drone's view change take different
    /// links): <paramref name="resume"/> is called once the view that admits it is installed here, and the request is
    /// served then.
    /// </summary>
    /// <exception cref="InvalidOperationException">The asker was removed from the run, or the request cannot be answered (named).</exception>
    public ProtocolMessage? Serve(int from, ProtocolMessage request, Action resume)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(resume);
        if (from != Self && !IsLive(from))
        {
            lock (_gate)
            {
                if ((uint)from >= (uint)Drones)
                {
                    throw new InvalidOperationException($"Drone {Self}: drone {from} is not a slot of this run of {Drones}.");
                }

                if (!(_live[Self] && _joined[from]))
                {
                    // A request is checked before it may wait: what it names must exist here, and a drone not yet
                    // admitted may leave only a few.
                    CheckRequest(from, request);
                    CheckMayAwaitAdmission(from, request);
                    if (_parked.Count >= MaxParkedRequests || _parked.Count(p => p.From == from) >= MaxParkedRequestsPerDrone)
                    {
                        throw new InvalidOperationException($"Drone {Self}: {_parked.Count} requests of drones not yet admitted wait already ({_parked.Count(p => p.From == from)} of drone {from}).");
                    }

                    _parked.Add((from, resume));
                    return null;
                }

                if (!_live[from])
                {
                    throw new InvalidOperationException($"Drone {Self}: drone {from} was removed from the run (view {_view}); its {request.GetType().Name} is refused.");
                }
            }
        }

        CheckRequest(from, request);
        return request switch
        {
            DiffRequest diffs => DiffsFor(diffs),
            PageRequest page when (uint)page.Page < (uint)_heap.PageCount => PageFor(page.Page),
            PageRequest page => throw new InvalidOperationException($"Drone {Self}: page {page.Page} is outside the heap of {_heap.PageCount} pages."),
            _ => throw new InvalidOperationException($"Drone {Self}: {request.GetType().Name} from drone {from} is not a request."),
        };
    }

    /// <summary>Throws when <paramref name="request"/> names pages outside the heap or asks for more than a request may.</summary>
    private void CheckRequest(int from, ProtocolMessage request)
    {
        switch (request)
        {
            case not (PageRequest or DiffRequest):
                throw new InvalidOperationException($"Drone {Self}: {request.GetType().Name} from drone {from} is not a request.");
            case PageRequest page when (uint)page.Page >= (uint)_heap.PageCount:
                throw new InvalidOperationException($"Drone {Self}: drone {from} asked for page {page.Page}, outside the heap of {_heap.PageCount} pages.");
            case DiffRequest diffs when diffs.Pages.Length > MaxPagesPerDiffRequest || diffs.Pages.Any(p => (uint)p.Page >= (uint)_heap.PageCount || p.Intervals.Length > MaxIntervalsPerRequest):
                throw new InvalidOperationException(
                    $"Drone {Self}: drone {from} asked for diffs of {diffs.Pages.Length} page(s) (at most {MaxPagesPerDiffRequest}, each of {_heap.PageCount} pages, at most {MaxIntervalsPerRequest} intervals each).");
        }
    }

    /// <summary>
    /// The diffs asked for, page by page in the request's order, up to <see cref="MaxReplyBytes"/> (one diff at least):
    /// a reply may stop early, inside a page's intervals even, and the asker asks again for what it lacks.
    /// </summary>
    private DiffReply DiffsFor(DiffRequest request)
    {
        Fault?.Invoke("serve-diff");
        var pages = new List<PageDiffs>(request.Pages.Length);
        var budget = MaxReplyBytes;
        long bytes = 0;
        var full = false;
        foreach (var (page, intervals) in request.Pages)
        {
            var entry = _heap.GetEntry(page);
            var diffs = new List<CoveredDiff>(1);
            lock (entry)
            {
                foreach (var interval in intervals)
                {
                    if (diffs.Count > 0 && diffs[^1].First <= interval && interval <= diffs[^1].Last)
                    {
                        continue; // covered by the diff of its run
                    }

                    CoveredDiff diff;
                    bool found;
                    lock (_gate)
                    {
                        found = _diffs.TryGetValue((page, interval), out diff);
                    }

                    // A pending run: its diff is made now. A run that went on into the open interval may need a
                    // second round when the interval asked for closed while its first part's diff was made.
                    for (var attempt = 0; !found && attempt < 2 && entry.TwinInterval != 0 && interval >= entry.TwinInterval; attempt++)
                    {
                        MakePendingDiff(entry);
                        lock (_gate)
                        {
                            found = _diffs.TryGetValue((page, interval), out diff);
                        }
                    }

                    if (!found)
                    {
                        throw new InvalidOperationException($"Drone {Self} has no diff of page {page} for its interval {interval}.");
                    }

                    if (diffs.Exists(d => d.First == diff.First))
                    {
                        continue;
                    }

                    if (bytes > 0 && bytes + diff.Bytes.Length + 32 > budget)
                    {
                        full = true; // the rest in the next reply
                        break;
                    }

                    diffs.Add(diff);
                    bytes += diff.Bytes.Length + 32; // the diff, its run and its bin header
                }
            }

            if (diffs.Count > 0 || !full)
            {
                diffs.Sort((a, b) => a.First.CompareTo(b.First));
                pages.Add(new PageDiffs(page, [.. diffs]));
            }

            if (full)
            {
                break;
            }
        }

        return new DiffReply([.. pages]);
    }

    /// <summary>This drone's copy of a page for a drone that lost its own to garbage collection.</summary>
    private PageReply PageFor(int page)
    {
        var entry = _heap.GetEntry(page);
        lock (entry)
        {
            if (entry.NeedsWholePage)
            {
                return new PageReply(page, [], new int[Drones]); // no copy here: the asker looks elsewhere
            }

            var applied = (entry.AppliedVector ?? new int[Drones]).ToArray();
            byte[] bytes;
            unsafe
            {
                // A twin is the page as it was before this drone's pending interval: send that, and say so.
                if (entry.TwinInterval != 0 && entry.HasTwin)
                {
                    bytes = new ReadOnlySpan<byte>(entry.Twin, _heap.PageSize).ToArray();
                    applied[Self] = entry.TwinInterval - 1;
                }
                else
                {
                    bytes = _heap.PageBytes(page).ToArray();
                    lock (_gate)
                    {
                        applied[Self] = _vt[Self];
                    }
                }
            }

            return new PageReply(page, bytes, applied);
        }
    }

    private static long Sum(VectorTimestamp vt)
    {
        long sum = 0;
        foreach (var entry in vt.Entries)
        {
            sum += entry;
        }

        return sum;
    }

}

/// <summary>The run ended for this drone (<see cref="LrcEngine.Abort"/>): drone 0 failed, this drone was removed, or a drone failed in a run that does not recover.</summary>
public sealed class RunAbortedException : InvalidOperationException
{
    /// <summary>Creates the exception with a default message.</summary>
    public RunAbortedException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public RunAbortedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and the exception that caused it.</summary>
    public RunAbortedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
