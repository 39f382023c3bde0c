using System.Diagnostics;

namespace HiveMind.Consistency;

/// <summary>
/// Membership (PROTOCOL.md, "Failures and churn"): suspicions go to the barrier manager, which decides numbered
/// membership views and announces them; drones act on views only. At each view change every live drone reports its
/// locks and the manager rebuilds every lock from live drones: a token lost with a failed drone is granted anew (to the
/// first waiter, or kept by the lock's manager), queues are rebuilt from the live waiters, and locks managed by a
/// failed drone move to a manager every drone computes alike from the view. Lock messages carry the lock view they
/// were sent in, so a message from before a recovery can neither be lost in a dead forwarding chain nor grant twice.
/// Here are the view this drone acts on (and its lock view), the manager's decisions (the decided view, why each drone
/// was removed, the lock reports gathered), the choice of each lock's manager, and the waits for a recovery or a removal.
/// </summary>
/// <remarks>
/// <para>
/// Threads: <see cref="OnSuspicion"/>, <see cref="OnLockReport"/>, <see cref="OnViewChange"/> and
/// <see cref="OnLockReset"/> run where the engine handles a message: a network thread, or the sending thread itself
/// for a message a drone sends to itself over the mesh (drone 0 installs each view it decides so, and suspects from
/// whichever thread reports a failure); on a newcomer, <see cref="OnViewChange"/> also runs on the application thread
/// as it joins. <see cref="Suspect"/> runs on whichever thread reports a failure (the mesh's, its failure detector's,
/// or the one that installs a view). <see cref="WaitForLockRecovery"/> blocks the thread that acquires, attempts or
/// releases a lock (the application thread). <see cref="WaitUntilRemoved"/> is called from <see cref="MissPath"/>'s
/// misses and whole-page fetches when a peer stops answering: it blocks whichever thread took the fault, which holds the
/// engine's faults lock meanwhile (so the drone's other faults wait too), or, in a collection's validation, the
/// application thread, which misses there without that lock.
/// </para>
/// <para>
/// Guarded by the engine's gate: the views, the lock view, the held-back lock messages and the manager's decisions are
/// read and changed with it held. The message handlers, <see cref="Suspect"/>, <see cref="View"/>,
/// <see cref="RemovedInOrder"/>, <see cref="RemovalReason"/> and <see cref="WaitUntilRemoved"/> take it themselves (and
/// send after letting it go); the other queries and changes are called with it held, with two exceptions:
/// <see cref="ViewNumber"/> and <see cref="RemovedCount"/> are written with volatile writes for readers without it, and
/// <see cref="IsLive"/> is also read without it, from a view that may be changing (a new view's array is published
/// before it is filled, so a drone live in both views may read as not live): by the engine, as a first look at the
/// sender of a message or request, where only a "not live" answer is checked again under the gate (a stale "live" one
/// is acted on: a drone removed a moment ago has its message passed to its handler, or its request served, as if it had
/// come just before its removal), and by <see cref="MissPath"/> as it weighs a live copy of a page whose diffs were lost.
/// </para>
/// </remarks>
internal sealed class Membership
{
    private readonly LrcEngine _engine;
    private readonly object _gate;
    private readonly VectorTimestamp _vt;
    private readonly IntervalStore _store;
    private readonly IDroneNetwork _network;

    // The view this drone acts on, and the view of its last lock recovery (equal except while recovering).
    private int _view;
    private int _lockView;
    private bool[] _live;
    private readonly bool[] _joined;
    private int _removedCount;
    private readonly List<(int From, ProtocolMessage Message, int View)> _deferred = [];

    // On the barrier manager: why each removed drone was taken for failed.
    private readonly Dictionary<int, string> _removalReasons = [];
    private readonly List<int> _removalOrder = [];

    // The barrier manager's decisions: the latest view and the lock reports gathered for it.
    private int _decidedView;
    private readonly bool[] _decidedLive;
    private readonly Dictionary<int, LockReport> _reports = [];

    /// <summary>
    /// Starts the views of drone <see cref="LrcEngine.Self"/> with the first <paramref name="started"/> drones live (0 on
    /// a newcomer, which learns the run's view as it joins).
    /// </summary>
    public Membership(LrcEngine engine, int started)
    {
        _engine = engine;
        _gate = engine.Gate;
        _vt = engine.Vt;
        _store = engine.Store;
        _network = engine.Network;
        if (started < 0 || started > Drones || (started > 0 && Self >= started))
        {
            throw new ArgumentOutOfRangeException(nameof(started), started, $"drone {Self} of {Drones} slots cannot start with {started} live");
        }

        _live = Enumerable.Range(0, Drones).Select(d => d < started).ToArray();
        _decidedLive = [.. _live];
        _joined = [.. _live];
    }

    private int Self => _engine.Self;

    private int Drones => _engine.Drones;

    /// <summary>Joining a running run (the engine's, looked up at each use).</summary>
    private Admission Admission => _engine.Admission;

    /// <summary>The manager's side of barriers (the engine's, looked up at each use).</summary>
    private BarrierManager Barriers => _engine.Barriers;

    /// <summary>The locks (the engine's, looked up at each use).</summary>
    private LockTable Locks => _engine.Locks;

    /// <summary>The lock view: the view of this drone's last lock recovery, in which its lock messages are sent. Caller holds the gate.</summary>
    public int LockView
    {
        get
        {
            Debug.Assert(Monitor.IsEntered(_gate), "Membership.LockView: the caller holds the gate");

            return _lockView;
        }
    }

    /// <summary>Raised when this drone installs a new membership view, on the thread that handles the view change (see the remarks).</summary>
    public event Action<MembershipView>? ViewChanged;

    /// <summary>The number of the membership view this drone acts on (0 until a drone fails or joins); no allocation.</summary>
    public int ViewNumber => Volatile.Read(ref _view);

    /// <summary>How many drones the views have removed so far (failed); joins do not change it. No allocation.</summary>
    public int RemovedCount => Volatile.Read(ref _removedCount);

    /// <summary>The membership view this drone acts on.</summary>
    public MembershipView View
    {
        get
        {
            lock (_gate)
            {
                return ViewOf(_view, _live);
            }
        }
    }

    /// <summary>
    /// For a program that does not recover from failures: the first removal stops the run (<see cref="LrcEngine.Abort"/>). On the
    /// barrier manager it does so in the same step that decides the removal, so that no barrier completes without the
    /// removed drone; on every other drone as the view that removes it arrives.
    /// </summary>
    public bool StopsOnRemoval { get; set; }

    /// <summary>On the barrier manager: the drones removed so far, in the order it decided their removal (the first failed first).</summary>
    public IReadOnlyList<int> RemovedInOrder
    {
        get
        {
            lock (_gate)
            {
                return [.. _removalOrder];
            }
        }
    }

    /// <summary>On the barrier manager: why <paramref name="drone"/> was removed (the suspicion that removed it), or null.</summary>
    public string? RemovalReason(int drone)
    {
        lock (_gate)
        {
            return _removalReasons.GetValueOrDefault(drone);
        }
    }

    /// <summary>
    /// Reports that <paramref name="drone"/> seems to have failed: its link broke, or (with <paramref name="silent"/>) it
    /// has been silent for the failure timeout. Only the barrier manager decides; this drone goes on acting on the
    /// current view until a new one arrives.
    /// </summary>
    public void Suspect(int drone, string reason, bool silent = false)
    {
        if ((uint)drone >= (uint)Drones || drone == LrcEngine.BarrierManagerDrone)
        {
            return; // the barrier manager is assumed not to fail: its loss ends the run at the drone level
        }

        lock (_gate)
        {
            if (!silent && !_joined[drone])
            {
                // A drone never admitted here whose link is gone: what it left for its admission can never be taken
                // (no link to it is made again), so it makes room for newcomers to come.
                Admission.ForgetHeldBack(drone);
            }

            if (!_live[Self])
            {
                return; // a newcomer not yet admitted: the members see the failure themselves
            }
        }

        _engine.SendIfReachable(LrcEngine.BarrierManagerDrone, new Suspicion(drone, Self, reason, silent)); // drone 0 gone: the drone ends anyway
    }

    /// <summary>Whether the barrier manager's latest decided view holds <paramref name="drone"/>. Caller holds the gate.</summary>
    public bool IsDecidedLive(int drone)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Membership.IsDecidedLive: the caller holds the gate");

        return _decidedLive[drone];
    }

    /// <summary>Whether the view this drone acts on holds <paramref name="drone"/> (false for an id outside the run). Caller holds the gate, or reads a view that may be changing.</summary>
    public bool IsLive(int drone) => (uint)drone < (uint)_live.Length && _live[drone];

    /// <summary>Whether <paramref name="drone"/> has taken part in a view this drone knows of (live now, or removed since). Caller holds the gate.</summary>
    public bool HasJoined(int drone)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Membership.HasJoined: the caller holds the gate");

        return _joined[drone];
    }

    /// <summary>Notes that <paramref name="drone"/> took part in the run (a newcomer learns the removed drones from its welcome). Caller holds the gate.</summary>
    public void MarkJoined(int drone)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Membership.MarkJoined: the caller holds the gate");

        _joined[drone] = true;
    }

    /// <summary>Whether this drone's view holds any drone: false only on a newcomer not yet admitted. Caller holds the gate.</summary>
    public bool AnyLive
    {
        get
        {
            Debug.Assert(Monitor.IsEntered(_gate), "Membership.AnyLive: the caller holds the gate");

            return _live.Any(l => l);
        }
    }

    /// <summary>The drones the current view holds, in id order. Caller holds the gate.</summary>
    public int[] LiveDrones()
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Membership.LiveDrones: the caller holds the gate");

        return Enumerable.Range(0, Drones).Where(d => _live[d]).ToArray();
    }

    /// <summary>
    /// The manager of <paramref name="lockId"/> in the current view: drone <c>lock % N</c> (N slots) while it takes
    /// part, else the live drone at <c>lock % L</c> among the L live ones in id order, so that the locks of failed
    /// drones and of slots no drone has joined spread over the live drones (all drones compute the same one).
    /// Caller holds the gate.
    /// </summary>
    public int ManagerOf(int lockId)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Membership.ManagerOf: the caller holds the gate");

        return ManagerIn(lockId, _live);
    }

    private int ManagerIn(int lockId, bool[] live)
    {
        var home = lockId % Drones;
        if (live[home])
        {
            return home;
        }

        var count = 0;
        foreach (var taking in live)
        {
            count += taking ? 1 : 0;
        }

        if (count == 0)
        {
            return LrcEngine.BarrierManagerDrone;
        }

        var rank = lockId % count;
        for (var drone = 0; drone < Drones; drone++)
        {
            if (live[drone] && rank-- == 0)
            {
                return drone;
            }
        }

        return LrcEngine.BarrierManagerDrone;
    }

    /// <summary>
    /// Whether a lock message sent in lock view <paramref name="view"/> is for now: older ones are dropped (the
    /// recovery rebuilt what they carried), newer ones wait until this drone has recovered too. Caller holds the gate.
    /// </summary>
    public bool IsCurrentLockMessage(int from, ProtocolMessage message, int view)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Membership.IsCurrentLockMessage: the caller holds the gate");

        if (view == _lockView && _lockView == _view)
        {
            return true;
        }

        if (view > _lockView || (view == _lockView && _lockView != _view))
        {
            _deferred.Add((from, message, view));
        }

        return false;
    }

    /// <summary>Blocks the application thread while a lock recovery is under way. Caller holds the gate.</summary>
    public void WaitForLockRecovery()
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Membership.WaitForLockRecovery: the caller holds the gate");

        if (_lockView != _view)
        {
            _engine.WaitLocked(() => _lockView == _view, $"lock recovery for view {_view} did not complete");
        }
    }

    /// <summary>
    /// Blocks until the view no longer holds <paramref name="drone"/> (its failure was decided): a faulting thread, with the
    /// faults lock held (see the remarks). Caller does not hold the gate.
    /// </summary>
    public void WaitUntilRemoved(int drone, string what)
    {
        lock (_gate)
        {
            _engine.WaitLocked(() => !_live[drone], $"drone {drone} stopped answering ({what}) but was not removed from the view");
        }
    }

    // ------------------------------------------------------------------ the barrier manager's decisions

    /// <summary>On the barrier manager: a drone's suspicion that another failed; a confirmed one removes it, in a new view announced to all.</summary>
    public void OnSuspicion(Suspicion suspicion)
    {
        ViewChange change;
        int[] audience;
        lock (_gate)
        {
            if (Self == LrcEngine.BarrierManagerDrone)
            {
                Admission.ForgetNewcomer(suspicion.Suspect); // failed before its admission: not admitted
            }

            if (Self != LrcEngine.BarrierManagerDrone || suspicion.Suspect == LrcEngine.BarrierManagerDrone || !_decidedLive[suspicion.Suspect] || !_decidedLive[suspicion.Reporter])
            {
                return;
            }

            // A silence another drone saw is confirmed by this drone's own link: while it hears the suspect, the suspect
            // is alive (the reporter may be the slow one), and when it stops hearing it, its own detector reports it.
            if (suspicion.Silent && suspicion.Reporter != Self && _network.IsLinked(suspicion.Suspect))
            {
                return;
            }

            _decidedLive[suspicion.Suspect] = false;
            _removalReasons[suspicion.Suspect] = suspicion.Reporter == Self ? suspicion.Reason : $"{suspicion.Reason} (reported by drone {suspicion.Reporter})";
            _removalOrder.Add(suspicion.Suspect);
            if (StopsOnRemoval)
            {
                // The run does not recover: it stops here, in the same step that removes the drone, so that no barrier
                // round (completed under this gate) can be released without it.
                _engine.Abort($"drone {suspicion.Suspect} failed ({_removalReasons[suspicion.Suspect]}) and the program does not recover from failures");
            }

            _decidedView++;
            _reports.Clear();
            change = new ViewChange(_decidedView, Enumerable.Range(0, Drones).Where(d => _decidedLive[d]).ToArray());

            // The removed drone hears of it too when it can: a drone that was only cut off then stops by itself.
            audience = [.. change.Live.Where(d => d != Self), suspicion.Suspect];
        }

        try
        {
            _engine.SendEach(audience.Select(d => (d, (ProtocolMessage)change)));
        }
        finally
        {
            // This drone installs the view and releases what the removal completes even if telling another drone failed.
            _network.Send(Self, change);
            Barriers.CompleteBarrierRounds();
        }
    }

    /// <summary>
    /// On the barrier manager, as it admits newcomers: decides the view that adds <paramref name="admitting"/>; returns its
    /// number, its drones and the drones removed so far. Caller holds the gate.
    /// </summary>
    public (int View, int[] Live, int[] Removed) DecideAdmission(int[] admitting)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Membership.DecideAdmission: the caller holds the gate");

        foreach (var drone in admitting)
        {
            _decidedLive[drone] = true;
        }

        _decidedView++;
        _reports.Clear();
        var live = Enumerable.Range(0, Drones).Where(d => _decidedLive[d]).ToArray();
        var removed = Enumerable.Range(0, Drones).Where(d => _joined[d] && !_decidedLive[d]).ToArray();
        return (_decidedView, live, removed);
    }

    /// <summary>On the barrier manager: a drone's report of the decided view; once every live drone's is in, the locks are rebuilt.</summary>
    public void OnLockReport(LockReport report)
    {
        List<(int Drone, LockReset Reset)>? resets = null;
        lock (_gate)
        {
            if (Self != LrcEngine.BarrierManagerDrone || report.View != _decidedView || !_decidedLive[report.Drone])
            {
                return;
            }

            foreach (var record in report.Intervals)
            {
                _store.Store(record);
            }

            _reports[report.Drone] = report;
            if (Enumerable.Range(0, Drones).Where(d => _decidedLive[d]).All(_reports.ContainsKey))
            {
                resets = RebuildLocks();
            }
        }

        try
        {
            _engine.SendEach((resets ?? []).Select(r => (r.Drone, (ProtocolMessage)r.Reset)));
        }
        finally
        {
            // A barrier round that waited for records of a drone removed while it was under way may complete now.
            Barriers.CompleteBarrierRounds();
        }
    }

    /// <summary>
    /// Rebuilds every reported lock from the live drones' reports: the token stays with a live drone that has it,
    /// or goes to the first live waiter (granted with everything the live drones know), or to the lock's manager;
    /// the live waiters queue behind it in id order; the manager learns the queue's tail and the sequences seen.
    /// Caller holds the gate.
    /// </summary>
    private List<(int Drone, LockReset Reset)> RebuildLocks()
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Membership.RebuildLocks: the caller holds the gate");

        var live = Enumerable.Range(0, Drones).Where(d => _decidedLive[d]).ToArray();
        var merged = new VectorTimestamp(Drones);
        foreach (var report in _reports.Values)
        {
            merged.Merge(new VectorTimestamp(report.Timestamp));
        }

        var assignments = live.ToDictionary(d => d, _ => new List<LockAssignment>());
        var locks = _reports.Values.SelectMany(r => r.Locks.Select(l => l.Lock)).Distinct().Order();
        foreach (var lockId in locks)
        {
            var snapshots = live
                .Select(d => (Drone: d, Snapshot: _reports[d].Locks.FirstOrDefault(l => l.Lock == lockId)))
                .Where(s => s.Snapshot is not null)
                .ToList();
            var owner = snapshots.FirstOrDefault(s => s.Snapshot!.HasToken).Snapshot is not null ? snapshots.First(s => s.Snapshot!.HasToken).Drone : -1;
            var waiters = snapshots.Where(s => s.Snapshot!.Waiting && s.Drone != owner).Select(s => s.Drone).ToList();
            var manager = ManagerIn(lockId, _decidedLive);
            LockGrant? regranted = null;
            if (owner < 0 && waiters.Count > 0)
            {
                // The token was lost with a failed drone: grant it anew to the first waiter.
                owner = waiters[0];
                waiters.RemoveAt(0);
                var request = RequestOf(lockId, owner);
                regranted = new LockGrant(lockId, request.Sequence, merged.Entries.ToArray(), _engine.RecordsBetween(request.Timestamp, merged), _decidedView, request.Ticket);
            }
            else if (owner < 0)
            {
                owner = manager;
            }

            var chain = new List<int> { owner };
            chain.AddRange(waiters);
            var seen = snapshots.Where(s => s.Snapshot!.Sequence > 0).ToList();
            foreach (var drone in live)
            {
                var position = chain.IndexOf(drone);
                var next = position >= 0 && position + 1 < chain.Count ? RequestOf(lockId, chain[position + 1]) : null;
                var isManager = drone == manager;
                assignments[drone].Add(new LockAssignment(
                    lockId,
                    Token: drone == owner,
                    next,
                    LastRequester: isManager ? chain[^1] : manager,
                    SeenDrones: isManager ? seen.Select(s => s.Drone).ToArray() : [],
                    SeenSequences: isManager ? seen.Select(s => s.Snapshot!.Sequence).ToArray() : [],
                    Grant: drone == owner ? regranted : null));
            }
        }

        return live.Select(d => (d, new LockReset(_decidedView, [.. assignments[d]]))).ToList();
    }

    private LockRequest RequestOf(int lockId, int drone)
    {
        var report = _reports[drone];
        var snapshot = report.Locks.First(l => l.Lock == lockId);
        return new LockRequest(lockId, drone, snapshot.Sequence, report.Timestamp, _decidedView, snapshot.Ticket);
    }

    // ------------------------------------------------------------------ every drone

    /// <summary>
    /// Installs a newer view: who is live (a removal stops a run that does not recover), and this drone's report of its
    /// locks to the barrier manager, which starts the lock recovery; then what waited for the view is replayed.
    /// </summary>
    public void OnViewChange(ViewChange change)
    {
        LockReport report;
        MembershipView view;
        lock (_gate)
        {
            if (change.View <= _view)
            {
                return;
            }

            Volatile.Write(ref _view, change.View);
            var wasLive = _live;
            _live = new bool[Drones];
            foreach (var drone in change.Live)
            {
                _live[drone] = true;
                _joined[drone] = true;
            }

            var lost = Enumerable.Range(0, Drones).Where(d => wasLive[d] && !_live[d]).ToArray();
            if (StopsOnRemoval && lost.Length > 0)
            {
                // The run does not recover: every drone stops as it learns of the first removal.
                _engine.Abort(lost.Contains(Self)
                    ? $"drone 0 removed this drone from the run (view {change.View})"
                    : $"drone {lost[0]} failed and the program does not recover from failures");
            }

            Volatile.Write(ref _removedCount, Enumerable.Range(0, Drones).Count(d => _joined[d] && !_live[d]));

            view = ViewOf(_view, _live);
            report = new LockReport(
                _view,
                Self,
                _vt.Entries.ToArray(),
                _engine.RecordsTheManagerMayLack(),
                Locks.Snapshots());
            Monitor.PulseAll(_gate);
        }

        if (view.Contains(Self))
        {
            _engine.SendIfReachable(LrcEngine.BarrierManagerDrone, report);
        }

        // Held-back messages and requests first: a subscriber that throws must not leave them waiting for another view.
        Admission.ReplayEarly();
        ViewChanged?.Invoke(view);
    }

    /// <summary>The barrier manager's rebuilt locks for this drone's view: installed, the lock view moves on, and the lock messages held for it are handled.</summary>
    public void OnLockReset(LockReset reset)
    {
        var grants = new List<(int Drone, LockGrant Grant)>();
        List<(int From, ProtocolMessage Message, int View)> replay;
        lock (_gate)
        {
            if (reset.View != _view)
            {
                return; // a newer view is being recovered; its reset will come
            }

            // From here on this drone's lock messages belong to the new lock view (grants made below included).
            _lockView = reset.View;
            Locks.Reset(reset.Locks, grants);
            replay = _deferred.Where(d => d.View == _lockView).ToList();
            _deferred.RemoveAll(d => d.View <= _lockView);
            Monitor.PulseAll(_gate);
        }

        _engine.SendEach(grants.Select(g => (g.Drone, (ProtocolMessage)g.Grant)));
        foreach (var (from, message, _) in replay)
        {
            _engine.Handle(from, message);
        }
    }

    private MembershipView ViewOf(int number, bool[] live) =>
        new(number, Enumerable.Range(0, Drones).Where(d => live[d]).ToArray(), Enumerable.Range(0, Drones).Where(d => !live[d] && _joined[d]).ToArray());
}

/// <summary>A numbered membership view: the drones taking part, and those removed (failed) so far. Slots no drone has joined are in neither.</summary>
public sealed record MembershipView(int Number, IReadOnlyList<int> Live, IReadOnlyList<int> Removed)
{
    /// <summary>Whether <paramref name="drone"/> takes part in this view.</summary>
    public bool Contains(int drone) => Live.Contains(drone);
}

/// <summary>The network could not reach a drone (its link is closed): it has failed, or is about to be found failed.</summary>
public sealed class DroneUnreachableException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public DroneUnreachableException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public DroneUnreachableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and the exception that caused it.</summary>
    public DroneUnreachableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The drone that could not be reached, or -1.</summary>
    public int Drone { get; init; } = -1;
}
