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
/// <para>
/// The engine is the facade the drone talks to, and composes the protocol's machinery, each part in a file of its name:
/// <list type="bullet">
/// <item><see cref="IntervalStore"/>: interval records and write notices since the last collection.</item>
/// <item><see cref="LockTable"/>: every lock's state, acquires, attempts and releases, the manager's forwarding, grants and hand-offs.</item>
/// <item><see cref="BarrierManager"/>: the manager's side of barriers (rounds, arrivals, releases); the arriving side
/// (<see cref="Barrier"/>, <see cref="TryBarrier"/>) is here.</item>
/// <item><see cref="MissPath"/>: faults, twins, diff and whole-page fetches, and the serving of diffs and pages.</item>
/// <item><see cref="Collector"/>: garbage collection at barriers, and the holders of pages it leaves.</item>
/// <item><see cref="Membership"/>: the views, removals of failed drones, lock managers and lock recovery.</item>
/// <item><see cref="Admission"/>: joining a running run.</item>
/// </list>
/// What is left here: the application thread's synchronization entry points, closing and incorporating intervals,
/// aborting the run, the sends and waits every part uses, and the dispatch of incoming messages and requests.
/// </para>
/// <para>
/// Threads: the application thread calls <see cref="Acquire"/>, <see cref="TryAcquire"/>, <see cref="Release"/>,
/// <see cref="Barrier"/> and <see cref="JoinRun"/>; any thread of the drone takes faults. The drone's own threads alone
/// change page access states. <see cref="Handle"/> runs on network threads, or on the sending thread for a message the
/// drone sends to itself over the mesh (drone 0's own barrier arrival, a lock this drone manages: then the application
/// thread). It also handles messages held back and replayed later: those of drones not yet admitted here (or, on a
/// newcomer, of every drone before its own admission), from <see cref="Admission.ReplayEarly"/> on the thread that
/// installs the view that admits them (one of the above, or a newcomer's application thread inside
/// <see cref="JoinRun"/>), and lock messages of a lock view this drone had not reached, from
/// <see cref="Membership.OnLockReset"/> on whatever thread handled the reset. Wherever it runs, it only answers from
/// what is stored (diffs, records) or hands results to the waiting application thread, and never waits on the network.
/// <see cref="Serve"/> runs on network threads, and never waits; a request parked until its asker was admitted is served
/// again once <see cref="Admission.ReplayEarly"/> resumes it, by the network: on that thread, or on one of its own.
/// </para>
/// <para>
/// Guards: <see cref="_gate"/> guards the engine's tables and those of every part (the VT, the store, locks, barrier
/// rounds, diffs, views, admissions); each part says which of its methods take it and which are called with it held.
/// <see cref="_faults"/> serializes the drone's faults and the closing of an interval (the pages written in the open
/// interval are its), and is held across a miss's network waits. Page locks (the page entries) guard twins and runs.
/// No thread waits on the network while it holds the gate or a page lock.
/// </para>
/// </remarks>
internal sealed class LrcEngine : IRangeFaultHandler
{
    /// <summary>The drone that manages barriers.</summary>
    public const int BarrierManagerDrone = 0;

    /// <summary>Default garbage-collection threshold: consistency data of one drone, in bytes.</summary>
    public const long DefaultCollectionThreshold = 64L << 20;

    // Pages per diff request: a large range miss becomes a stream of requests to each writer, whose replies
    // are made, sent and received in parallel.
    public const int MaxPagesPerDiffRequest = 64;

    private readonly SharedHeap _heap;
    private readonly IDroneNetwork _network;
    private readonly object _gate = new();
    private readonly VectorTimestamp _vt;
    private readonly IntervalStore _store;
    private readonly List<int> _dirty = [];

    // Serializes the faults of the drone's threads (several may fault at once between two synchronizations) and the
    // closing of an interval: a page's miss is made once, its twin before any thread writes it, and every written page
    // is in the interval's write notices. Held across a miss's network waits; never taken by the network's threads.
    private readonly object _faults = new();
    private readonly Membership _membership;
    private readonly Admission _admission;
    private readonly LockTable _locks;
    private readonly BarrierManager _barriers;
    private readonly MissPath _missPath;
    private readonly Collector _collector;
    private readonly TimeSpan _waitLimit;
    private string? _aborted;
    private long _maxReplyBytes;
    private int[] _managerKnows;

    // The manager's sequence number of the release _managerKnows came from (0: none, a newcomer's welcome): the next
    // arrival's VT travels as its changes since that release.
    private int _managerKnowsRelease;
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
        _vt = new VectorTimestamp(drones);
        _managerKnows = new int[drones];
        _store = new IntervalStore(drones, heap.PageCount);

        // The parts: each keeps what is the engine's own (the gate, the heap, the VT, the store, the network, set above)
        // and reaches the others through the engine at each use, never in its constructor; they need one another in
        // cycles (membership and admission, membership and the locks, barriers and admission), so no order of
        // construction could hand each its siblings, and with none copied, the order here does not matter.
        _membership = new Membership(this, started ?? drones);
        _admission = new Admission(this, started ?? drones);
        _locks = new LockTable(this);
        _barriers = new BarrierManager(this);
        _missPath = new MissPath(this);
        _collector = new Collector(this, collectionThreshold);
        MaxReplyBytes = DefaultReplyBytes(heap.PageSize);
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

    /// <summary>
    /// The most pages one whole-page request (<see cref="PageRequest"/>) names, which its holder must answer with all of
    /// them: as many copies as <see cref="MaxReplyBytes"/> holds, at a page and <see cref="PageCopyOverhead"/> bytes each (one
    /// at least, so a budget under a page still fetches), and at most <see cref="MaxPagesPerDiffRequest"/>.
    /// Every drone of a run must compute the same value: it is both what an asker puts in a request and what a holder
    /// accepts (<see cref="MissPath.CheckRequest"/>), so a drone whose limit were smaller would refuse the others'
    /// requests. It follows from <see cref="MaxReplyBytes"/>, the page size and the slot count, equal on all drones
    /// today (<c>Drone</c> sets <see cref="MaxReplyBytes"/> from <see cref="DefaultReplyBytes"/> of the page size, within
    /// the frame limit the run's options give); a budget that may differ between drones needs a limit agreed by the run.
    /// </summary>
    public int MaxPagesPerPageRequest => (int)Math.Clamp(MaxReplyBytes / (PageSize + PageCopyOverhead(Drones)), 1, MaxPagesPerDiffRequest);

    /// <summary>
    /// About the most bytes of pages one batch of whole-page requests asks for (a request at least, whatever its size).
    /// The replies of a batch stay alive until its copies are installed (the copies are slices of the reply bodies), so
    /// a range miss after a collection asks batch after batch, installing each before sending the next: what it holds at
    /// once stays near this, however long the range, and 8 MiB is still 32 requests of 64 4 KiB pages in flight.
    /// </summary>
    public const long MaxWholePageBatchBytes = 8L << 20;

    /// <summary>The most bytes a page copy of a <see cref="PageReply"/> takes beyond the page: its array, page number and bin headers, and an applied vector of <paramref name="drones"/> entries.</summary>
    public static long PageCopyOverhead(int drones) => 16L + (5L * drones);

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
                return _store.RecordBytes + _store.NoticeBytes + _missPath.DiffBytes + ((long)_heap.Twins.Rented * _heap.PageSize);
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

    // ------------------------------------------------------------------ the parts (for one another)

    /// <summary>The monitor that guards the engine's tables and those of its components.</summary>
    internal object Gate => _gate;

    /// <summary>The heap this engine keeps consistent.</summary>
    internal SharedHeap Heap => _heap;

    /// <summary>This drone's VT. Guarded by <see cref="Gate"/>.</summary>
    internal VectorTimestamp Vt => _vt;

    /// <summary>This drone's interval records and write notices. Guarded by <see cref="Gate"/>.</summary>
    internal IntervalStore Store => _store;

    /// <summary>The other drones.</summary>
    internal IDroneNetwork Network => _network;

    /// <summary>
    /// Serializes the faults of the drone's threads and the closing of an interval (see <c>_faults</c>): held across a
    /// miss's network waits, never taken by the network's threads.
    /// </summary>
    internal object Faults => _faults;

    /// <summary>The view this drone acts on and the barrier manager's decisions.</summary>
    internal Membership Membership => _membership;

    /// <summary>Joining a running run: drone 0's side and the newcomer's.</summary>
    internal Admission Admission => _admission;

    /// <summary>The locks.</summary>
    internal LockTable Locks => _locks;

    /// <summary>The manager's side of barriers.</summary>
    internal BarrierManager Barriers => _barriers;

    /// <summary>The garbage collector, which keeps the holders of pages written before the last collection.</summary>
    internal Collector Collector => _collector;

    /// <summary>Access misses, twins, and the diffs made and served here.</summary>
    internal MissPath MissPath => _missPath;

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
            _collector.Collect();
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

    /// <summary>Arrives at <paramref name="barrierId"/> and waits for its release (at most the wait limit, then throws); the collector meets its two barriers so.</summary>
    internal BarrierRelease Meet(int barrierId, bool mayCollect) => Meet(barrierId, mayCollect, giveUpAfter: null)!;

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
                barrierId,
                Self,
                _vt.Entries.ToArray(),
                RecordsBetween(_managerKnows, _vt, d => d == Self || !_membership.IsLive(d)),
                mayCollect && held > _collector.Threshold,
                _managerKnowsRelease > 0 ? new ReleaseBase(_managerKnowsRelease, [.. _managerKnows]) : null);
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
            _managerKnowsRelease = release.Sequence;
        }

        Incorporate(release.Timestamp, release.Intervals);
        return release;
    }

    // ------------------------------------------------------------------ faults (application thread)

    /// <summary>A fault on <paramref name="page"/> (<see cref="MissPath.OnFault"/>).</summary>
    public void OnFault(SharedHeap heap, int page, bool write) => _missPath.OnFault(heap, page, write);

    /// <summary>Faults in a range of pages: the invalid ones are brought up to date together, then each is made writable if asked (<see cref="MissPath.OnFaults"/>).</summary>
    public void OnFaults(SharedHeap heap, int first, int last, bool write) => _missPath.OnFaults(heap, first, last, write);

    /// <summary>Notes that the open interval wrote <paramref name="page"/> (a write fault). Caller holds <see cref="Faults"/>.</summary>
    internal void MarkDirty(int page)
    {
        Debug.Assert(Monitor.IsEntered(_faults), "LrcEngine.MarkDirty: the caller holds the faults lock");

        _dirty.Add(page);
    }

    // ------------------------------------------------------------------ intervals

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
            _collector.Modified(_dirty);
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

    internal IntervalRecord RecordOf(int drone, int index)
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
    /// Starts this newcomer's intervals where the run stands (<paramref name="timestamp"/>, from its welcome): its VT, its
    /// store (nothing before it is kept) and what the barrier manager knows. Caller holds <see cref="_gate"/>.
    /// </summary>
    internal void StartAt(int[] timestamp)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "LrcEngine.StartAt: the caller holds the gate");

        for (var drone = 0; drone < Drones; drone++)
        {
            _vt.Set(drone, timestamp[drone]);
        }

        _store.StartAt(timestamp);
        _managerKnows = [.. timestamp];
        _managerKnowsRelease = 0; // a welcome, not a release: the first arrival carries the whole VT
    }

    /// <summary>The VT barrier release <paramref name="sequence"/> carried, while the barrier manager keeps it (null elsewhere): the base of an arrival's VT.</summary>
    internal int[]? ReleaseTimestamp(int sequence) => _barriers.ReleaseTimestamp(sequence);

    /// <summary>The records this drone knows that the barrier manager may lack (its last release did not cover them). Caller holds <see cref="_gate"/>.</summary>
    internal IntervalRecord[] RecordsTheManagerMayLack()
    {
        Debug.Assert(Monitor.IsEntered(_gate), "LrcEngine.RecordsTheManagerMayLack: the caller holds the gate");

        return RecordsNotCoveredBy(_managerKnows);
    }

    /// <summary>
    /// The records between <paramref name="known"/> and <paramref name="target"/>, of the drones <paramref name="of"/>
    /// accepts (all by default). Caller holds <see cref="_gate"/>.
    /// </summary>
    internal IntervalRecord[] RecordsBetween(int[] known, VectorTimestamp target, Func<int, bool>? of = null)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "LrcEngine.RecordsBetween: the caller holds the gate");

        var records = new List<IntervalRecord>();
        for (var drone = 0; drone < Drones; drone++)
        {
            if (of is not null && !of(drone))
            {
                continue;
            }

            for (var index = known[drone] + 1; index <= target[drone]; index++)
            {
                records.Add(RecordOf(drone, index));
            }
        }

        return [.. records];
    }

    // ------------------------------------------------------------------ ending, sending and waiting (every component)

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
    internal void SendToManager(ProtocolMessage message)
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

    /// <summary>Sends to a drone that may have failed: a message to a failed drone is moot, never an error.</summary>
    internal void SendIfReachable(int drone, ProtocolMessage message)
    {
        try
        {
            _network.Send(drone, message);
        }
        catch (DroneUnreachableException)
        {
            // Its failure is (or will be) a view change of its own.
        }
    }

    /// <summary>
    /// Sends each message to its drone (<see cref="SendIfReachable"/>) even when one fails (a message over the frame
    /// limit, say); the first such failure is rethrown after all were tried, so that one bad message never leaves the
    /// other drones without theirs.
    /// </summary>
    internal void SendEach(IEnumerable<(int Drone, ProtocolMessage Message)> messages) =>
        EachThenRethrow(messages, m => SendIfReachable(m.Drone, m.Message));

    /// <summary>Runs <paramref name="action"/> on every item even when it throws for one; the first failure is rethrown after.</summary>
    internal static void EachThenRethrow<T>(IEnumerable<T> items, Action<T> action)
    {
        Exception? first = null;
        foreach (var item in items)
        {
            try
            {
                action(item);
            }
            catch (Exception error) when (error is not OutOfMemoryException)
            {
                first ??= error;
            }
        }

        if (first is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        }
    }

    /// <summary>Throws when the run was aborted. Caller holds <see cref="_gate"/> or not.</summary>
    internal void ThrowIfAborted()
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
        Debug.Assert(Monitor.IsEntered(_gate), "LrcEngine.WaitLocked: the caller holds the gate");

        if (!WaitUntil(done, _waitLimit))
        {
            throw new TimeoutException($"Drone {Self}: {what} within the wait limit of {_waitLimit.TotalSeconds:0.###} s (--wait-limit).");
        }
    }

    // ------------------------------------------------------------------ membership (Membership.cs)

    /// <summary>Raised when this drone installs a new membership view, on the thread that handles the view change (<see cref="Membership"/>).</summary>
    public event Action<MembershipView>? ViewChanged
    {
        add => _membership.ViewChanged += value;
        remove => _membership.ViewChanged -= value;
    }

    /// <summary>The number of the membership view this drone acts on (0 until a drone fails or joins); no allocation.</summary>
    public int ViewNumber => _membership.ViewNumber;

    /// <summary>How many drones the views have removed so far (failed); joins do not change it. No allocation.</summary>
    public int RemovedCount => _membership.RemovedCount;

    /// <summary>The membership view this drone acts on.</summary>
    public MembershipView View => _membership.View;

    /// <summary>
    /// For a program that does not recover from failures: the first removal stops the run (<see cref="Abort"/>). On the
    /// barrier manager it does so in the same step that decides the removal, so that no barrier completes without the
    /// removed drone; on every other drone as the view that removes it arrives.
    /// </summary>
    public bool StopsOnRemoval
    {
        get => _membership.StopsOnRemoval;
        set => _membership.StopsOnRemoval = value;
    }

    /// <summary>On the barrier manager: the drones removed so far, in the order it decided their removal (the first failed first).</summary>
    public IReadOnlyList<int> RemovedInOrder => _membership.RemovedInOrder;

    /// <summary>On the barrier manager: why <paramref name="drone"/> was removed (the suspicion that removed it), or null.</summary>
    public string? RemovalReason(int drone) => _membership.RemovalReason(drone);

    /// <summary>
    /// Reports that <paramref name="drone"/> seems to have failed: its link broke, or (with <paramref name="silent"/>) it
    /// has been silent for the failure timeout. Only the barrier manager decides (<see cref="Membership.Suspect"/>).
    /// </summary>
    public void Suspect(int drone, string reason, bool silent = false) => _membership.Suspect(drone, reason, silent);

    // ------------------------------------------------------------------ joining (Admission.cs)

    /// <summary>On drone 0: runtime state above the engine that a newcomer needs, taken when it is admitted.</summary>
    public Func<long[]>? NewcomerState
    {
        get => _admission.NewcomerState;
        set => _admission.NewcomerState = value;
    }

    /// <summary>The number of drones the run started with (drones that joined later have higher ids).</summary>
    public int Started => _admission.Started;

    /// <summary>On drone 0: how many newcomers wait to be admitted at the next application barrier.</summary>
    public int PendingNewcomers => _admission.PendingNewcomers;

    /// <summary>
    /// On a newcomer (an engine created with no drone live): asks drone 0 to admit this drone and waits for the
    /// welcome; then starts where the run stands and installs the view that admits it (<see cref="Admission.JoinRun"/>).
    /// Returns the welcome (the barrier the run passed, the state above the engine).
    /// </summary>
    /// <exception cref="InvalidOperationException">The run's page or heap size differs from this drone's.</exception>
    public JoinWelcome JoinRun() => _admission.JoinRun();

    /// <summary>
    /// On drone 0: blocks until <paramref name="count"/> newcomers have asked to join since the run started, or
    /// <paramref name="timeout"/> passes; returns whether they have (<see cref="Admission.WaitForNewcomers"/>).
    /// </summary>
    public bool WaitForNewcomers(int count, TimeSpan timeout) => _admission.WaitForNewcomers(count, timeout);

    // ------------------------------------------------------------------ incoming (network threads)

    /// <summary>
    /// Handles a one-way message from another drone (or this one), on a network thread or another the remarks name: it
    /// never waits on the network or on another drone (what it sends is queued). Requests go to <see cref="Serve"/>.
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
        if (Refusal(from, message) is { } why)
        {
            throw new InvalidDataException($"Drone {Self}: unexpected {message.GetType().Name} from drone {from}: {why}.");
        }

        CheckWriteNotices(from, message);

        // Joining happens outside the view: the newcomer is in none yet.
        if (message is JoinWelcome welcome)
        {
            _admission.OnWelcome(welcome);
            return;
        }

        if (message is JoinRequest join)
        {
            _admission.OnJoinRequest(from, join);
            return;
        }

        // A drone outside the view has been declared failed: whatever it still sends is refused. A newcomer may
        // speak first (its welcome and this drone's view change take different links): see HoldUntilAdmitted.
        if (!_membership.IsLive(from) && from != Self && !_admission.HoldUntilAdmitted(from, message))
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
                _membership.OnSuspicion(suspicion);
                return;
            case ViewChange change when from == BarrierManagerDrone:
                _membership.OnViewChange(change);
                return;
            case LockReport report when report.Drone == from:
                _membership.OnLockReport(report);
                return;
            case LockReset reset when from == BarrierManagerDrone:
                _membership.OnLockReset(reset);
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
    /// sender, what only the barrier manager sends comes from it, arrivals and join requests go to it, and requests and
    /// replies never come one-way. Returns why <paramref name="message"/> is refused, or null. A forwarded request (its
    /// manager) and a grant (its ticket) are checked against the view as they are handled.
    /// </summary>
    private string? Refusal(int from, ProtocolMessage message) => message switch
    {
        LockRequest m when m.Requester != from => $"it names drone {m.Requester} as the requester",
        Suspicion m when m.Reporter != from => $"it names drone {m.Reporter} as the reporter",
        LockReport m when m.Drone != from => $"it names drone {m.Drone} as the reporting drone",
        BarrierArrival m when m.Drone != from => $"it names drone {m.Drone} as the arriving drone",
        JoinRequest m when m.Drone != from => $"it names drone {m.Drone} as the drone that asks",
        BarrierArrival or JoinRequest when Self != BarrierManagerDrone => $"it goes to the barrier manager (drone {BarrierManagerDrone}) alone",
        ViewChange or LockReset or BarrierRelease or JoinWelcome when from != BarrierManagerDrone => $"only the barrier manager (drone {BarrierManagerDrone}) sends it",
        LockRequest or Suspicion or LockReport or BarrierArrival or JoinRequest or ViewChange or LockReset or BarrierRelease or JoinWelcome
            or ForwardedLockRequest or LockGrant or LockBusy => null,
        _ => "it is not a one-way message",
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
        if (from != Self && !_membership.IsLive(from))
        {
            lock (_gate)
            {
                if ((uint)from >= (uint)Drones)
                {
                    throw new InvalidOperationException($"Drone {Self}: drone {from} is not a slot of this run of {Drones}.");
                }

                if (!(_membership.IsLive(Self) && _membership.HasJoined(from)))
                {
                    // A request is checked before it may wait: what it names must exist here, and a drone not yet
                    // admitted may leave only a few.
                    _missPath.CheckRequest(from, request);
                    _admission.Park(from, request, resume);
                    return null;
                }

                if (!_membership.IsLive(from))
                {
                    throw new InvalidOperationException($"Drone {Self}: drone {from} was removed from the run (view {_membership.ViewNumber}); its {request.GetType().Name} is refused.");
                }
            }
        }

        return _missPath.Serve(from, request);
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
