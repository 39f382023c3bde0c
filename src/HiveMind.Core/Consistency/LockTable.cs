using System.Diagnostics;
using HiveMind.Memory;
using HiveMind.Telemetry;

namespace HiveMind.Consistency;

/// <summary>
/// One drone's locks (PROTOCOL.md, "Locks"): the state of every lock this drone has touched, the application thread's
/// acquires, attempts and releases, the manager's part (drone <c>lock % N</c> remembers the last requester and forwards
/// each request to it), the last requester's part (grant now if the token is free here, else at release), grants and
/// hand-offs with the records the receiver lacks, and the fair hand-off that lets other drones' requests in before a
/// polling application thread takes the lock again.
/// </summary>
/// <remarks>
/// <para>
/// Threads: <see cref="Acquire"/>, <see cref="TryAcquire"/>, <see cref="Release"/> and <see cref="TakeInPendingGrants"/>
/// run on the application thread. <see cref="Manage"/>, <see cref="OnForwarded"/>, <see cref="OnGrant"/> and
/// <see cref="OnBusy"/> run where the engine handles a message: a network thread, or the sending thread itself for a
/// message a drone sends to itself over the mesh (a lock this drone manages: the application thread); on a newcomer,
/// also the application thread as it replays the messages held back until its admission.
/// </para>
/// <para>
/// Guarded by the engine's gate: every lock's state is read and changed with it held. The public entry points take
/// it themselves and let it go before they send, wait on the network or take records in; the other methods
/// (<see cref="Snapshots"/>, <see cref="Reset"/> and the private helpers that say so) are called with it held. The
/// counters of requests on their way in (<see cref="ArrivingRequests"/>) are outside the gate: interlocked on the
/// threads that handle requests, read with volatile reads by the application thread.
/// </para>
/// </remarks>
internal sealed class LockTable
{
    private readonly LrcEngine _engine;
    private readonly object _gate;
    private readonly SharedHeap _heap;
    private readonly VectorTimestamp _vt;
    private readonly IntervalStore _store;

    // The state of every lock this drone has touched, by lock id.
    private readonly Dictionary<int, LockState> _states = [];

    // Lock requests of other drones on their way into the gate, by lock id modulo the array's length (a shared slot only
    // costs a short wait).
    private readonly int[] _lockRequestsArriving = new int[64];

    public LockTable(LrcEngine engine)
    {
        _engine = engine;
        _gate = engine.Gate;
        _heap = engine.Heap;
        _vt = engine.Vt;
        _store = engine.Store;
    }

    private int Self => _engine.Self;

    private int Drones => _engine.Drones;

    /// <summary>The views and the barrier manager's decisions (the engine's, looked up at each use).</summary>
    private Membership Membership => _engine.Membership;

    private ProtocolStatistics Statistics => _engine.Statistics;

    /// <summary>Acquires <paramref name="lockId"/>: free if this drone released it last and nobody asked since.</summary>
    public void Acquire(int lockId)
    {
        CheckLock(lockId);
        _heap.BeginSynchronization(SpanSynchronizationKind.Acquire, lockId);
        var started = Stopwatch.GetTimestamp();
        using var activity = HiveMindTelemetry.Source.StartActivity("hivemind.acquire");
        activity?.SetTag(HiveMindTelemetry.DroneTag, Self).SetTag("hivemind.lock", lockId);
        _engine.CloseInterval(TraceEventKind.AcquireAsked, lockId);
        LetLockRequestsIn(lockId);
        LockRequest? request = null; // none when this drone holds the token or takes over its queued attempt
        var adopted = false;
        int[]? pending = null;
        LockState state;
        var manager = Self;
        lock (_gate)
        {
            Membership.WaitForLockRecovery();
            state = LockOf(lockId);
            if (state.Held)
            {
                throw new InvalidOperationException($"Drone {Self} acquires lock {lockId}, which it already holds: locks are not reentrant.");
            }

            if (state.HasToken)
            {
                pending = TakeToken(state);
            }
            else if (state.Waiting && !state.Abandoned)
            {
                throw new InvalidOperationException($"Drone {Self} acquires lock {lockId} while another of its threads waits for it: one thread of a drone asks for a lock at a time.");
            }
            else if (state.Waiting)
            {
                // An attempt of this drone that was answered busy is still queued: this acquire waits for its grant
                // (a second request would be granted too, and the first grant, for an older sequence, dropped with the token).
                state.Abandoned = false;
                state.Trying = false;
                adopted = true;
                Statistics.LockAttemptsTakenOver++;
            }
            else
            {
                request = NewRequest(lockId, state, attempt: false);
                manager = Membership.ManagerOf(lockId);
            }
        }

        if (request is null && !adopted)
        {
            AcquiredHere(lockId, pending, started);
            return;
        }

        if (request is not null)
        {
            _engine.SendIfReachable(manager, request); // a manager that failed: the lock recovery re-issues the request
        }

        LockGrant grant;
        lock (_gate)
        {
            _engine.WaitLocked(() => state.Grant is not null, $"lock {lockId} was not granted");
            grant = state.Grant!;
            state.Grant = null;
        }

        AcquiredByGrant(lockId, grant, started);
    }

    /// <summary>Takes the token this drone holds free: the lock is held; returns the VT of a pending grant to take in. Caller holds the gate.</summary>
    private int[]? TakeToken(LockState state)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "LockTable.TakeToken: the caller holds the gate");

        state.Held = true;
        var pending = state.Pending;
        state.Pending = null;
        Statistics.LockAcquiresLocal++;
        return pending;
    }

    /// <summary>The end of an acquire served by the token held here: the records of a grant that came for a refused attempt, if any, are taken in.</summary>
    private void AcquiredHere(int lockId, int[]? pending, long started)
    {
        if (pending is not null)
        {
            _engine.Incorporate(pending, []); // its records are stored (AcceptGrant)
        }

        // Counted outside the gate: a measurement's listener runs on this thread and may do anything.
        Acquired(lockId, started, remote: false);
    }

    /// <summary>The end of an acquire served by another drone's grant.</summary>
    private void AcquiredByGrant(int lockId, LockGrant grant, long started)
    {
        _engine.Incorporate(grant.Timestamp, grant.Intervals);
        Statistics.LockAcquiresRemote++;
        Acquired(lockId, started, remote: true);
    }

    /// <summary>
    /// Acquires <paramref name="lockId"/> if no other drone holds it or asks for it: true, with the consistency of
    /// <see cref="Acquire"/>; false at once when this drone holds it or already asks for it, and otherwise after one round
    /// trip through the lock's manager and the drone it forwards to. A refused attempt stays queued (the lock's queue
    /// cannot be undone): when the lock comes, this drone passes it on to whoever asked next, or keeps it free for its
    /// next acquire.
    /// </summary>
    public bool TryAcquire(int lockId)
    {
        CheckLock(lockId);
        _heap.BeginSynchronization(SpanSynchronizationKind.Attempt, lockId); // granted or not: a span's validity does not depend on the answer
        var started = Stopwatch.GetTimestamp();
        LetLockRequestsIn(lockId);
        LockRequest? request = null;
        int[]? pending = null;
        LockState state;
        var manager = Self;
        lock (_gate)
        {
            Membership.WaitForLockRecovery();
            state = LockOf(lockId);
            if (state.Held || state.Waiting)
            {
                Statistics.LockAttemptsBusy++;
                return false;
            }
        }

        _engine.CloseInterval(TraceEventKind.AcquireAsked, lockId);
        lock (_gate)
        {
            Membership.WaitForLockRecovery();
            if (state.Held || state.Waiting)
            {
                Statistics.LockAttemptsBusy++;
                return false; // another thread of this drone came first
            }

            if (state.HasToken)
            {
                pending = TakeToken(state);
            }
            else
            {
                request = NewRequest(lockId, state, attempt: true);
                manager = Membership.ManagerOf(lockId);
            }
        }

        if (request is null)
        {
            AcquiredHere(lockId, pending, started);
            return true;
        }

        _engine.SendIfReachable(manager, request);
        LockGrant grant;
        lock (_gate)
        {
            // Refused: answered busy, and perhaps its token came since (it is free here now, or passed on already).
            try
            {
                _engine.WaitLocked(() => state.Grant is not null || state.Abandoned || !state.Waiting, $"attempt at lock {lockId} was neither granted nor refused");
            }
            catch (Exception) when (state.Waiting && state.Grant is null)
            {
                state.Abandoned = true; // nobody waits for its grant now: the token passes through when it comes
                throw;
            }

            if (state.Grant is null)
            {
                Statistics.LockAttemptsBusy++;
                return false;
            }

            state.Trying = false;
            grant = state.Grant;
            state.Grant = null;
        }

        AcquiredByGrant(lockId, grant, started);
        return true;
    }

    /// <summary>
    /// Takes in the records of every token that came for a refused attempt and waits here free (<see cref="LockState.Pending"/>),
    /// before a barrier: what this drone arrives with then covers them, so no collection drops records that only such a
    /// token knows (their writer may have failed since). The tokens stay pending until then: a hand-off meanwhile still
    /// passes their records on.
    /// </summary>
    public void TakeInPendingGrants()
    {
        List<(LockState State, int[] Pending)> pending;
        lock (_gate)
        {
            pending = [.. _states.Values.Where(l => l.Pending is not null).Select(l => (l, l.Pending!))];
        }

        foreach (var (state, timestamp) in pending)
        {
            _engine.Incorporate(timestamp, []);
            lock (_gate)
            {
                if (ReferenceEquals(state.Pending, timestamp))
                {
                    state.Pending = null;
                }
            }
        }
    }

    /// <summary>A new request of this drone for <paramref name="lockId"/>. Caller holds the gate.</summary>
    private LockRequest NewRequest(int lockId, LockState state, bool attempt)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "LockTable.NewRequest: the caller holds the gate");

        state.Grant = null;
        state.Waiting = true;
        state.Trying = attempt;
        state.Abandoned = false;
        state.Ticket = NewTicket();
        return new LockRequest(lockId, Self, ++state.Sequence, _vt.Entries.ToArray(), Membership.LockView, state.Ticket, attempt);
    }

    private void Acquired(int lockId, long started, bool remote)
    {
        _engine.Traced(TraceEventKind.AcquireGranted, lockId, closing: false);
        var ended = Stopwatch.GetTimestamp();
        Statistics.LockWaitTicks += ended - started;
        if (HiveMindTelemetry.LockWait.Enabled)
        {
            HiveMindTelemetry.LockWait.Record(
                HiveMindTelemetry.Milliseconds(started, ended), new(HiveMindTelemetry.DroneTag, Self), new("hivemind.lock.remote", remote));
        }
    }

    /// <summary>
    /// The counter of requests of other drones for <paramref name="lockId"/> (and the locks that share its slot) on their
    /// way into the gate: the engine raises it (interlocked) while it handles such a request.
    /// </summary>
    public ref int ArrivingRequests(int lockId) => ref _lockRequestsArriving[(uint)lockId % (uint)_lockRequestsArriving.Length];

    /// <summary>
    /// Waits (a little, never blocking) while requests of other drones for this lock are on their way into the gate: a
    /// drone that polls a lock in a tight loop hands it on at once instead of keeping the network thread out. Bounded, so that a
    /// request whose handling takes long (its sender's admission, say) holds the application thread up by no more.
    /// </summary>
    private void LetLockRequestsIn(int lockId)
    {
        ref var arriving = ref ArrivingRequests(lockId);
        if (Volatile.Read(ref arriving) == 0)
        {
            return;
        }

        var spin = default(SpinWait);
        var until = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 500);
        while (Volatile.Read(ref arriving) > 0 && Stopwatch.GetTimestamp() < until)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }

        Statistics.LockRequestsLetIn++;
    }

    /// <summary>Releases <paramref name="lockId"/>, which this drone must hold; grants it to a waiting requester.</summary>
    public void Release(int lockId)
    {
        CheckLock(lockId);
        _heap.BeginSynchronization(SpanSynchronizationKind.Release, lockId);
        lock (_gate)
        {
            Membership.WaitForLockRecovery();
            if (!LockOf(lockId).Held)
            {
                throw new InvalidOperationException($"Drone {Self} releases lock {lockId}, which it does not hold.");
            }
        }

        _engine.CloseInterval(TraceEventKind.Release, lockId);
        (int Drone, LockGrant Grant)? handOff = null;
        lock (_gate)
        {
            // A view change may have come since the check: the hand-off must happen in the lock view the
            // recovery rebuilt this lock in, or the old queue and the rebuilt one would both get the token.
            Membership.WaitForLockRecovery();
            var state = LockOf(lockId);
            state.Held = false;
            if (state.Next is { } next)
            {
                handOff = (next.Requester, HandOff(state, next));
            }
        }

        if (handOff is { } h)
        {
            _engine.SendIfReachable(h.Drone, h.Grant);
        }
    }

    /// <summary>
    /// Gives the token to <paramref name="request"/>: the grant carries every record this drone knows that the request's VT
    /// does not cover, and those of a grant that came for an abandoned attempt (<see cref="LockState.Pending"/>), which this
    /// drone passes on without taking them in. Caller holds the gate.
    /// </summary>
    private LockGrant HandOff(LockState state, LockRequest request)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "LockTable.HandOff: the caller holds the gate");

        var known = _vt;
        if (state.Pending is { } pending)
        {
            known = new VectorTimestamp(_vt.Entries.ToArray());
            known.Merge(new VectorTimestamp(pending));
        }

        // A request queued by a refused attempt may be older than the last collection (its drone went on through the
        // barrier): the records it lacks start after what the collection dropped, which every drone passed with it.
        var from = request.Timestamp;
        for (var drone = 0; drone < Drones; drone++)
        {
            if (from[drone] < _store.CollectedUpTo(drone))
            {
                from = from == request.Timestamp ? [.. request.Timestamp] : from;
                from[drone] = _store.CollectedUpTo(drone);
            }
        }

        state.Next = null;
        state.HasToken = false;
        state.Pending = null;
        return new(request.Lock, request.Sequence, known.Entries.ToArray(), _engine.RecordsBetween(from, known), Membership.LockView, request.Ticket);
    }

    /// <summary>
    /// Takes a grant of this drone's latest request: to the waiting acquire, or, for an attempt answered busy that nobody
    /// took over, as a free token whose records are stored (not taken in: the application thread does that as it acquires)
    /// and which goes on at once to a request queued behind it. Returns that hand-off. Caller holds the gate.
    /// </summary>
    private (int Drone, LockGrant Grant)? AcceptGrant(LockState state, LockGrant grant)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "LockTable.AcceptGrant: the caller holds the gate");

        state.HasToken = true;
        state.Waiting = false;
        if (!state.Abandoned)
        {
            state.Held = true;
            state.Grant = grant;
            Monitor.PulseAll(_gate);
            return null;
        }

        state.Abandoned = false;
        state.Trying = false;
        foreach (var record in grant.Intervals)
        {
            if (record.Index > _vt[record.Drone])
            {
                _store.Store(record);
            }
        }

        state.Pending = grant.Timestamp;
        return state.Next is { } next ? (next.Requester, HandOff(state, next)) : null;
    }

    private static ulong NewTicket() => BitConverter.ToUInt64(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));

    /// <summary>The manager's part: remember the requester as the last one and forward to the previous last.</summary>
    public void Manage(int from, LockRequest request)
    {
        int previous;
        int view;
        lock (_gate)
        {
            if (!Membership.IsCurrentLockMessage(from, request, request.View))
            {
                return;
            }

            var state = LockOf(request.Lock);

            // A duplicate or a late retry of a request already queued would be granted twice: drop it.
            if (state.Seen.TryGetValue(request.Requester, out var seen) && request.Sequence <= seen)
            {
                return;
            }

            state.Seen[request.Requester] = request.Sequence;
            previous = state.LastRequester;
            state.LastRequester = request.Requester;
            view = Membership.LockView;
        }

        var forwarded = new ForwardedLockRequest(request, view);
        if (previous == Self)
        {
            OnForwarded(Self, forwarded, request, view);
        }
        else
        {
            _engine.SendIfReachable(previous, forwarded);
        }
    }

    /// <summary>The last requester's part: grant now if the lock is free here, else grant at release.</summary>
    public void OnForwarded(int from, ProtocolMessage message, LockRequest request, int view)
    {
        LockGrant? grant = null;
        LockBusy? busy = null;
        lock (_gate)
        {
            if (!Membership.IsCurrentLockMessage(from, message, view))
            {
                return;
            }

            if (from != Self && from != Membership.ManagerOf(request.Lock))
            {
                // Only the lock's manager forwards requests.
                throw new InvalidDataException($"Drone {Self}: drone {from} forwarded a request for lock {request.Lock}, whose manager is drone {Membership.ManagerOf(request.Lock)}.");
            }

            var state = LockOf(request.Lock);
            if (state.HasToken && !state.Held)
            {
                grant = HandOff(state, request);
            }
            else
            {
                state.Next = request;
                if (request.Try)
                {
                    busy = new LockBusy(request.Lock, request.Sequence, view, request.Ticket);
                }
            }
        }

        if (grant is not null)
        {
            _engine.SendIfReachable(request.Requester, grant);
        }
        else if (busy is not null)
        {
            _engine.SendIfReachable(request.Requester, busy);
        }
    }

    /// <summary>A grant of this drone's request from the drone that held the token: taken, and passed on when nobody here waits for it.</summary>
    public void OnGrant(int from, LockGrant grant)
    {
        (int Drone, LockGrant Grant)? relay;
        lock (_gate)
        {
            if (!Membership.IsCurrentLockMessage(from, grant, grant.View))
            {
                return;
            }

            var state = LockOf(grant.Lock);
            if (grant.Sequence != state.Sequence || state.Grant is not null || state.HasToken)
            {
                return; // a duplicate or a stale grant: never granted twice
            }

            if (grant.Ticket != state.Ticket)
            {
                // Only a drone the request passed through knows its ticket: a grant without it is refused.
                throw new InvalidDataException($"Drone {Self}: drone {from} granted lock {grant.Lock} without the ticket of its request.");
            }

            relay = AcceptGrant(state, grant);
        }

        if (relay is { } r)
        {
            _engine.SendIfReachable(r.Drone, r.Grant);
        }
    }

    /// <summary>An attempt of this drone answered busy: it stays queued, and its caller is told.</summary>
    public void OnBusy(int from, LockBusy busy)
    {
        lock (_gate)
        {
            if (!Membership.IsCurrentLockMessage(from, busy, busy.View))
            {
                return;
            }

            var state = LockOf(busy.Lock);
            if (!state.Waiting || !state.Trying || state.Abandoned || state.Grant is not null || busy.Sequence != state.Sequence)
            {
                return; // late: the attempt was granted, or another request followed it
            }

            if (busy.Ticket != state.Ticket)
            {
                throw new InvalidDataException($"Drone {Self}: drone {from} refused an attempt at lock {busy.Lock} without the ticket of its request.");
            }

            state.Abandoned = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>What this drone knows of each lock, for its report of a new view. Caller holds the gate.</summary>
    public LockSnapshot[] Snapshots()
    {
        Debug.Assert(Monitor.IsEntered(_gate), "LockTable.Snapshots: the caller holds the gate");

        return _states.Select(l => new LockSnapshot(l.Key, l.Value.HasToken, l.Value.Held, l.Value.Waiting, l.Value.Sequence, l.Value.Ticket)).ToArray();
    }

    /// <summary>
    /// Installs the barrier manager's rebuilt locks (<see cref="LockReset"/>) and adds to <paramref name="grants"/> the
    /// grants they make this drone send: tokens granted anew here and passed on, and tokens free here with a request
    /// queued behind them. Caller holds the gate, in the new lock view.
    /// </summary>
    public void Reset(LockAssignment[] assignments, List<(int Drone, LockGrant Grant)> grants)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "LockTable.Reset: the caller holds the gate");

        foreach (var assignment in assignments)
        {
            var state = LockOf(assignment.Lock);
            state.Next = assignment.Next;
            state.LastRequester = assignment.LastRequester;
            state.Seen.Clear();
            for (var i = 0; i < assignment.SeenDrones.Length; i++)
            {
                state.Seen[assignment.SeenDrones[i]] = assignment.SeenSequences[i];
            }

            if (assignment.Grant is { } grant)
            {
                // A token lost with a failed drone, granted anew to this waiting drone (or, for an attempt answered
                // busy, left free here and passed on to the request queued behind it).
                if (AcceptGrant(state, grant) is { } relay)
                {
                    grants.Add(relay);
                }
            }
            else
            {
                state.HasToken = assignment.Token;
            }

            if (state.HasToken && !state.Held && state.Next is { } next)
            {
                grants.Add((next.Requester, HandOff(state, next)));
            }

            if (state.Waiting && state.Trying && !state.Abandoned)
            {
                // An attempt caught by the recovery is queued in the rebuilt lock without its mark: answer it busy.
                state.Abandoned = true;
            }
        }
    }

    /// <summary>The state of <paramref name="lockId"/>, made on first use (the token starts with its manager). Caller holds the gate.</summary>
    private LockState LockOf(int lockId)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "LockTable.LockOf: the caller holds the gate");

        if (!_states.TryGetValue(lockId, out var state))
        {
            var manager = Membership.ManagerOf(lockId);
            _states[lockId] = state = new LockState { LastRequester = manager, HasToken = manager == Self };
        }

        return state;
    }

    private static void CheckLock(int lockId)
    {
        if (lockId < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(lockId), lockId, "Lock ids are not negative.");
        }
    }

    private sealed class LockState
    {
        public int LastRequester { get; set; }

        public bool HasToken { get; set; }

        public bool Held { get; set; }

        public long Sequence { get; set; }

        public LockRequest? Next { get; set; }

        public LockGrant? Grant { get; set; }

        /// <summary>This drone's request is out and its grant has not come.</summary>
        public bool Waiting { get; set; }

        /// <summary>The ticket of this drone's latest request (see <see cref="LockRequest.Ticket"/>).</summary>
        public ulong Ticket { get; set; }

        /// <summary>This drone's latest request is an attempt (<see cref="LockRequest.Try"/>) whose caller waits for its answer.</summary>
        public bool Trying { get; set; }

        /// <summary>
        /// The attempt was answered busy: its request stays queued, and nobody here waits for its grant. The grant, when it
        /// comes, leaves the token free here (<see cref="Pending"/>) unless an acquire of this drone took the request over.
        /// </summary>
        public bool Abandoned { get; set; }

        /// <summary>
        /// The VT of a grant that came for an abandoned attempt, whose records are stored but not taken in: an acquire here
        /// takes them in, a hand-off passes them on (see <see cref="HandOff"/>).
        /// </summary>
        public int[]? Pending { get; set; }

        /// <summary>On the manager: the latest request sequence seen from each requester.</summary>
        public Dictionary<int, long> Seen { get; } = [];
    }
}
