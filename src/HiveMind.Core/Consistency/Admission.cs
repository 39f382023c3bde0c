using System.Diagnostics;
using HiveMind.Memory;

namespace HiveMind.Consistency;

/// <summary>
/// Joining (PROTOCOL.md, "Failures and churn": a new drone asks the barrier manager to join and is admitted at the
/// next barrier, as a new view). The engine has a slot per drone that may ever take part; a newcomer holds the id
/// drone 0's mesh gave it and asks drone 0 to join. The first application barrier after the request becomes a
/// garbage collection: at its end every drone holds every page it wrote whole, and no interval record or diff from
/// before it is needed any more. There drone 0 decides the new view and sends the newcomer the VT, the holders of
/// every written page and the barrier the run has passed; the newcomer marks those pages for a whole-page fetch
/// and takes part from then on. The lock recovery of the new view gives it its place in every lock.
/// Here are drone 0's side (join requests, the admission at a barrier, the welcome), the newcomer's (asking, the
/// welcome, starting where the run stands), and what both hold back from drones not yet admitted until they are.
/// </summary>
/// <remarks>
/// <para>
/// Threads: <see cref="JoinRun"/> runs on the newcomer's application thread, <see cref="WaitForNewcomers"/> on drone 0's
/// (a program's). <see cref="OnJoinRequest"/>, <see cref="OnWelcome"/> and <see cref="HoldUntilAdmitted"/> run where the
/// engine handles a message, <see cref="Park"/> where it serves a request (network threads, or the sending thread for a
/// message a drone sends itself over the mesh); <see cref="StartAdmission"/> and <see cref="Admit"/> where the barrier
/// manager completes a round; <see cref="ReplayEarly"/> where a view is installed, and on a newcomer's application
/// thread as it joins.
/// </para>
/// <para>
/// Guarded by the engine's gate: the newcomers, the admission under way, the held-back messages and requests and the
/// welcome are read and changed with it held. <see cref="JoinRun"/>, <see cref="WaitForNewcomers"/>,
/// <see cref="PendingNewcomers"/>, the message handlers and <see cref="ReplayEarly"/> take it themselves, and send,
/// handle what was held back or touch pages after letting it go; the other methods are called with it held.
/// <see cref="Started"/> is also read with a volatile read, without it.
/// </para>
/// </remarks>
internal sealed class Admission
{
    private readonly LrcEngine _engine;
    private readonly object _gate;
    private readonly SharedHeap _heap;

    // On drone 0: newcomers waiting for the next application barrier, and those being admitted by its collection.
    private readonly List<int> _newcomers = [];
    private int[]? _admitting;
    private readonly HashSet<int> _suspectedNewcomers = [];
    private int _newcomersAsked;
    private int _admittingAt;

    // The number of drones the run started with.
    private int _startedCount;

    // Bounds on them, in bytes: a newcomer sends a few small messages (lock messages, a report) before its view
    // arrives; more is a drone that is never admitted, or one gone wrong, and is refused.
    private const long MaxEarlyBytesPerDrone = 1L << 20;
    private const long MaxEarlyBytes = 8L << 20;

    // One-way messages from drones not yet admitted here (or, on a newcomer, from anyone before its admission).
    private readonly List<(int From, ProtocolMessage Message, long Bytes)> _early = [];

    // Requests of drones not yet admitted here (or, on a newcomer, of anyone before its admission): served once they are.
    private const int MaxParkedRequests = 4096;
    private const int MaxParkedRequestsPerDrone = 256;
    private readonly List<(int From, Action Resume)> _parked = [];

    // On a newcomer: drone 0's welcome, once it came.
    private JoinWelcome? _welcome;

    /// <summary>Starts drone 0's side and a newcomer's, for a run that started with <paramref name="started"/> drones (0 on a newcomer, which learns it as it joins).</summary>
    public Admission(LrcEngine engine, int started)
    {
        _engine = engine;
        _gate = engine.Gate;
        _heap = engine.Heap;
        _startedCount = started;
    }

    private int Self => _engine.Self;

    private int Drones => _engine.Drones;

    /// <summary>The views and the barrier manager's decisions (the engine's, looked up at each use).</summary>
    private Membership Membership => _engine.Membership;

    /// <summary>The garbage collector and the holders of pages (the engine's, looked up at each use).</summary>
    private Collector Collector => _engine.Collector;

    /// <summary>On drone 0: runtime state above the engine that a newcomer needs, taken when it is admitted.</summary>
    public Func<long[]>? NewcomerState { get; set; }

    /// <summary>The number of drones the run started with (drones that joined later have higher ids).</summary>
    public int Started => Volatile.Read(ref _startedCount);

    /// <summary>On drone 0: how many newcomers wait to be admitted at the next application barrier.</summary>
    public int PendingNewcomers
    {
        get
        {
            lock (_gate)
            {
                return _newcomers.Count + (_admitting?.Length ?? 0);
            }
        }
    }

    /// <summary>
    /// On a newcomer (an engine created with no drone live): asks drone 0 to admit this drone and waits for the
    /// welcome; then takes the run's VT, marks every page written so far for a whole-page fetch and installs the
    /// view that admits it. Returns the welcome (the barrier the run passed, the state above the engine).
    /// </summary>
    /// <exception cref="InvalidOperationException">The run's page or heap size differs from this drone's.</exception>
    public JoinWelcome JoinRun()
    {
        lock (_gate)
        {
            if (Membership.AnyLive || _welcome is not null)
            {
                throw new InvalidOperationException($"Drone {Self} is part of the run already; only a newcomer joins.");
            }
        }

        _engine.SendToManager(new JoinRequest(Self));
        JoinWelcome welcome;
        lock (_gate)
        {
            _engine.WaitLocked(() => _welcome is not null, "drone 0 did not admit this drone (it admits newcomers at its next application barrier)");
            welcome = _welcome!;
        }

        if (welcome.PageSize != _heap.PageSize || welcome.HeapSize != _heap.Size)
        {
            throw new InvalidOperationException(
                $"Drone {Self}: the run has pages of {welcome.PageSize} bytes in a heap of {welcome.HeapSize}, this drone {_heap.PageSize} and {_heap.Size}: start it with the run's --page-size and --heap-size.");
        }

        lock (_gate)
        {
            _engine.StartAt(welcome.Timestamp);
            _startedCount = welcome.Started;
            foreach (var removed in welcome.Removed)
            {
                Membership.MarkJoined(removed);
            }

            foreach (var (first, count, holders) in welcome.Holders)
            {
                for (var page = first; page < first + count; page++)
                {
                    Collector.SetHolders(page, holders);
                }
            }
        }

        // Pages nobody wrote are zero here as everywhere; the others come whole from a holder on first access.
        foreach (var (first, count, _) in welcome.Holders)
        {
            for (var page = first; page < first + count; page++)
            {
                var entry = _heap.GetEntry(page);
                lock (entry)
                {
                    entry.NeedsWholePage = true;
                }

                _heap.SetAccess(page, PageAccess.NoAccess);
            }
        }

        Membership.OnViewChange(new ViewChange(welcome.View, welcome.Live));
        ReplayEarly();
        return welcome;
    }

    /// <summary>
    /// On drone 0: blocks until <paramref name="count"/> newcomers have asked to join since the run started (admitted
    /// already, or waiting for the next application barrier), or <paramref name="timeout"/> passes; returns whether
    /// they have. For programs that want newcomers in before some phase.
    /// </summary>
    public bool WaitForNewcomers(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_gate)
        {
            while (_newcomersAsked < count)
            {
                _engine.ThrowIfAborted();
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    return false;
                }

                Monitor.Wait(_gate, left);
            }

            return true;
        }
    }

    /// <summary>On drone 0: a newcomer asks to join; it waits for the next application barrier.</summary>
    public void OnJoinRequest(int from, JoinRequest request)
    {
        lock (_gate)
        {
            if (request.Drone != from || (uint)from >= (uint)Drones || Membership.HasJoined(from) || Membership.IsDecidedLive(from) || _newcomers.Contains(from)
                || (_admitting?.Contains(from) ?? false) || _suspectedNewcomers.Contains(from))
            {
                return; // a drone that took part once never comes back under its id; a repeat changes nothing
            }

            _newcomers.Add(from);
            _newcomersAsked++;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Drops what a drone never admitted here left for its admission (its link is gone). Caller holds the gate.</summary>
    public void ForgetHeldBack(int drone)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Admission.ForgetHeldBack: the caller holds the gate");

        _early.RemoveAll(e => e.From == drone);
        _parked.RemoveAll(p => p.From == drone);
    }

    /// <summary>Drops a newcomer that failed before it was admitted. Caller holds the gate.</summary>
    public void ForgetNewcomer(int drone)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Admission.ForgetNewcomer: the caller holds the gate");

        if (!Membership.IsDecidedLive(drone) && !Membership.HasJoined(drone))
        {
            _suspectedNewcomers.Add(drone); // a drone seen failing before it was admitted is not admitted later
        }

        _newcomers.Remove(drone);
        if (_admitting is { } admitting && admitting.Contains(drone))
        {
            _admitting = admitting.Where(d => d != drone).ToArray();
        }
    }

    /// <summary>
    /// On drone 0, as an application barrier completes: whether newcomers wait, in which case this barrier becomes a
    /// garbage collection at whose end they are admitted. Caller holds the gate.
    /// </summary>
    public bool StartAdmission(int barrier)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Admission.StartAdmission: the caller holds the gate");

        if (Self != LrcEngine.BarrierManagerDrone || barrier < 0 || _newcomers.Count == 0 || _admitting is not null)
        {
            return false;
        }

        _admitting = [.. _newcomers];
        _admittingAt = barrier;
        _newcomers.Clear();
        return true;
    }

    /// <summary>
    /// On drone 0, as the last barrier of the admitting collection completes (every drone holds its pages whole and
    /// has dropped its records): decides the view with the newcomers in. Caller holds the gate.
    /// </summary>
    public Admitted? Admit(VectorTimestamp all)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Admission.Admit: the caller holds the gate");

        var admitting = _admitting;
        _admitting = null;
        if (admitting is not { Length: > 0 })
        {
            return null; // every newcomer of this admission failed during its collection
        }

        var members = Enumerable.Range(0, Drones).Where(d => Membership.IsDecidedLive(d) && d != Self).ToArray();
        var (view, live, removed) = Membership.DecideAdmission(admitting);
        var holders = Collector.HolderRuns();
        var extra = NewcomerState?.Invoke() ?? [];
        var welcomes = admitting
            .Select(d => (d, new JoinWelcome(view, live, removed, _admittingAt, all.Entries.ToArray(), holders, _startedCount, _heap.PageSize, _heap.Size, extra)))
            .ToList();
        return new Admitted(new ViewChange(view, live), members, welcomes);
    }

    /// <summary>On a newcomer: drone 0's welcome, for <see cref="JoinRun"/> to take.</summary>
    public void OnWelcome(JoinWelcome welcome)
    {
        lock (_gate)
        {
            if (_welcome is not null || welcome.Timestamp.Length != Drones || !welcome.Live.Contains(Self)
                || welcome.Holders.Any(h => h.Count < 1 || (long)h.First + h.Count > _heap.PageCount))
            {
                return;
            }

            _welcome = welcome;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// For a one-way message from a drone outside this drone's view; true when it is to be handled now. A slot no drone
    /// has held may be a newcomer heard before the view that admits it arrives here (its welcome and this drone's view
    /// change take different links): its one-way messages wait in <see cref="_early"/> for that view (its requests wait
    /// in <see cref="_parked"/>, see <see cref="LrcEngine.Serve"/>). A newcomer not yet admitted keeps every one-way message for
    /// after its admission. A removed drone is refused. Never waits: it runs on a receive thread.
    /// </summary>
    public bool HoldUntilAdmitted(int from, ProtocolMessage message)
    {
        lock (_gate)
        {
            if ((uint)from >= (uint)Drones)
            {
                return false;
            }

            var admitted = Membership.IsLive(Self);
            if (admitted && Membership.HasJoined(from))
            {
                return Membership.IsLive(from); // removed: refused
            }

            CheckMayAwaitAdmission(from, message);

            var bytes = EstimatedBytes(message);
            var fromSender = _early.Where(e => e.From == from).Sum(e => e.Bytes);
            if (fromSender + bytes > MaxEarlyBytesPerDrone || _early.Sum(e => e.Bytes) + bytes > MaxEarlyBytes)
            {
                throw new InvalidDataException(
                    $"Drone {Self}: drone {from}, not admitted here, sent more than it may before its view ({fromSender + bytes} bytes held); its {message.GetType().Name} is refused.");
            }

            _early.Add((from, message, bytes));
            return false;
        }
    }

    /// <summary>
    /// Keeps a request of a drone not yet admitted here (or, on a newcomer, of anyone before its admission), for
    /// <paramref name="resume"/> to serve once it is: only from a drone that may wait for its admission, and only so many.
    /// The engine has checked the request itself. Caller holds the gate.
    /// </summary>
    public void Park(int from, ProtocolMessage request, Action resume)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Admission.Park: the caller holds the gate");

        CheckMayAwaitAdmission(from, request);
        if (_parked.Count >= MaxParkedRequests || _parked.Count(p => p.From == from) >= MaxParkedRequestsPerDrone)
        {
            throw new InvalidOperationException($"Drone {Self}: {_parked.Count} requests of drones not yet admitted wait already ({_parked.Count(p => p.From == from)} of drone {from}).");
        }

        _parked.Add((from, resume));
    }

    /// <summary>
    /// On drone 0, which admits every newcomer and installs each view before the newcomer hears of it: a drone outside
    /// the run may wait for its admission only once it has asked to join. Any other slot (a key holder that never asked)
    /// is refused. Caller holds the gate.
    /// </summary>
    private void CheckMayAwaitAdmission(int from, ProtocolMessage message)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "Admission.CheckMayAwaitAdmission: the caller holds the gate");

        if (Self == LrcEngine.BarrierManagerDrone && !Membership.IsDecidedLive(from) && !_newcomers.Contains(from) && !(_admitting?.Contains(from) ?? false))
        {
            throw new InvalidDataException(
                $"Drone {Self}: drone {from} is not in the run and has not asked to join it; its {message.GetType().Name} is refused.");
        }
    }

    /// <summary>Handles the one-way messages and serves the requests held back until their senders (or this newcomer) were admitted.</summary>
    public void ReplayEarly()
    {
        List<(int From, ProtocolMessage Message)> ready;
        List<Action> parked;
        lock (_gate)
        {
            if (!Membership.IsLive(Self))
            {
                return;
            }

            ready = _early.Where(e => Membership.HasJoined(e.From)).Select(e => (e.From, e.Message)).ToList();
            _early.RemoveAll(e => Membership.HasJoined(e.From));

            // Each is served again: one whose asker is still not admitted parks itself anew.
            parked = [.. _parked.Select(p => p.Resume)];
            _parked.Clear();
        }

        // Every one is handled even if one fails; the first failure is rethrown after, for the network to log.
        LrcEngine.EachThenRethrow(parked.Select(resume => (Action)resume).Concat(ready.Select(r => (Action)(() => _engine.Handle(r.From, r.Message)))), action => action());
    }

    /// <summary>About how many bytes <paramref name="message"/> holds in memory, for the bounds on what drones not yet admitted may leave here.</summary>
    private static long EstimatedBytes(ProtocolMessage message) => 64 + message switch
    {
        LockRequest m => 4L * m.Timestamp.Length,
        ForwardedLockRequest m => 4L * m.Request.Timestamp.Length,
        LockGrant m => (4L * m.Timestamp.Length) + m.Intervals.Sum(IntervalStore.BytesOf),
        BarrierArrival m => (4L * m.Timestamp.Length) + m.Intervals.Sum(IntervalStore.BytesOf),
        BarrierRelease m => (4L * m.Timestamp.Length) + m.Intervals.Sum(IntervalStore.BytesOf),
        LockReport m => (4L * m.Timestamp.Length) + m.Intervals.Sum(IntervalStore.BytesOf) + (48L * m.Locks.Length),
        Suspicion m => 2L * m.Reason.Length,
        _ => 256,
    };

    /// <summary>An admission decided: the view that admits the newcomers, the members to tell first, and each newcomer's welcome.</summary>
    public sealed record Admitted(ViewChange Change, int[] Members, List<(int Drone, JoinWelcome Welcome)> Welcomes);
}
