using System.Diagnostics;

namespace HiveMind.Consistency;

/// <summary>
/// The manager's side of barriers (PROTOCOL.md, "Barriers"), on drone <see cref="LrcEngine.BarrierManagerDrone"/>: the
/// rounds under way with each drone's arrival VT, and the release of a round once every drone of the decided view has
/// arrived and every record a release must carry is held. The release carries the merged VT and, to each drone, the
/// records its arrival did not cover; the first application barrier after a join request becomes a garbage collection
/// at whose end the newcomers are admitted (<see cref="Admission"/>). The arriving side (<see cref="LrcEngine.Barrier"/>)
/// is the engine's.
/// </summary>
/// <remarks>
/// <para>
/// Threads: <see cref="OnArrival"/> runs where the engine handles a <see cref="BarrierArrival"/>: a network thread, or,
/// for drone 0's own arrival over the mesh (a message to itself is handled in place), drone 0's application thread.
/// <see cref="CompleteBarrierRounds"/> runs there too, and where membership handles a suspicion or a lock report.
/// </para>
/// <para>
/// Guarded by the engine's gate: the rounds are read and changed with it held. <see cref="OnArrival"/> and
/// <see cref="CompleteBarrierRounds"/> take it themselves and send the releases after letting it go; the record checks
/// are called with it held.
/// </para>
/// </remarks>
internal sealed class BarrierManager
{
    private readonly LrcEngine _engine;
    private readonly object _gate;
    private readonly IntervalStore _store;
    private readonly Dictionary<int, BarrierRound> _rounds = [];

    // The VTs of the last releases, by sequence number: arrivals carry their VT as the changes since the release their
    // drone last took, and a drone arrives at a barrier only after taking the release before it, so the last few suffice.
    private readonly Dictionary<int, int[]> _releaseTimestamps = [];
    private int _releases;

    public BarrierManager(LrcEngine engine)
    {
        _engine = engine;
        _gate = engine.Gate;
        _store = engine.Store;
    }

    private int Self => _engine.Self;

    private int Drones => _engine.Drones;

    /// <summary>The views and the barrier manager's decisions (the engine's, looked up at each use).</summary>
    private Membership Membership => _engine.Membership;

    /// <summary>Joining a running run (the engine's, looked up at each use).</summary>
    private Admission Admission => _engine.Admission;

    /// <summary>How many barrier rounds this drone keeps arrivals of (none but on the barrier manager).</summary>
    public int RoundsUnderWay
    {
        get
        {
            lock (_gate)
            {
                return _rounds.Count;
            }
        }
    }

    /// <summary>How many releases this drone has sent as the barrier manager (the number of the last one).</summary>
    public int Releases
    {
        get
        {
            lock (_gate)
            {
                return _releases;
            }
        }
    }

    /// <summary>How many releases' VTs the manager keeps for arrivals to name as their base.</summary>
    public const int KeptReleases = 16;

    /// <summary>
    /// The VT release <paramref name="sequence"/> carried, while it is among the last <see cref="KeptReleases"/>; null
    /// otherwise (and on every drone but the manager). Any thread: it takes the gate.
    /// </summary>
    public int[]? ReleaseTimestamp(int sequence)
    {
        lock (_gate)
        {
            return _releaseTimestamps.TryGetValue(sequence, out var vt) ? [.. vt] : null; // a copy: the base of one message
        }
    }

    /// <summary>A drone's arrival: its VT and records are kept, and every round that is complete now is released.</summary>
    public void OnArrival(BarrierArrival arrival)
    {
        lock (_gate)
        {
            if (!Membership.IsDecidedLive(arrival.Drone))
            {
                return; // removed already (drone 0 installs its own view just after deciding it)
            }

            if (!_rounds.TryGetValue(arrival.Barrier, out var round))
            {
                _rounds[arrival.Barrier] = round = new BarrierRound(Drones);
            }

            foreach (var record in arrival.Intervals)
            {
                _store.Store(record);
            }

            round.Arrivals[arrival.Drone] = arrival.Timestamp;
            round.Collect |= arrival.WantsCollection;
        }

        CompleteBarrierRounds();
    }

    /// <summary>
    /// Releases every barrier round that all drones of the decided view have reached. The first application barrier
    /// after a join request becomes a garbage-collection barrier, at whose end the newcomers are admitted.
    /// </summary>
    public void CompleteBarrierRounds()
    {
        var releases = new List<(int Drone, BarrierRelease Release)>();
        Admission.Admitted? admitted = null;
        lock (_gate)
        {
            if (_engine.AbortReason is not null)
            {
                return; // the run stopped: no barrier completes without the drones it lost
            }

            foreach (var (barrier, round) in _rounds.ToList())
            {
                var live = Enumerable.Range(0, Drones).Where(d => Membership.IsDecidedLive(d)).ToArray();
                if (!live.All(d => round.Arrivals[d] is not null))
                {
                    continue;
                }

                var all = new VectorTimestamp(Drones);
                foreach (var drone in live)
                {
                    all.Merge(new VectorTimestamp(round.Arrivals[drone]!));
                }

                // A drone removed after it arrived: what it knew counts as far as the manager holds its records (the
                // rest died with it, known to no live drone). What a live drone knows the manager holds or will get:
                // the drone's own records came with its arrival, and those of drones removed since come with the live
                // drones' reports of the new view. Until then the round waits.
                for (var drone = 0; drone < Drones; drone++)
                {
                    if (!Membership.IsDecidedLive(drone) && round.Arrivals[drone] is { } removed)
                    {
                        for (var other = 0; other < Drones; other++)
                        {
                            while (all[other] < removed[other] && HoldsRecord(other, all[other] + 1))
                            {
                                all.Set(other, all[other] + 1);
                            }
                        }
                    }
                }

                if (!live.All(d => HoldsRecordsBetween(round.Arrivals[d]!, all)))
                {
                    continue;
                }

                _rounds.Remove(barrier);

                var collect = Admission.StartAdmission(barrier) | round.Collect;
                var sequence = ++_releases;
                _releaseTimestamps[sequence] = all.Entries.ToArray();
                _releaseTimestamps.Remove(sequence - KeptReleases);
                foreach (var drone in live)
                {
                    releases.Add((drone, new BarrierRelease(barrier, all.Entries.ToArray(), _engine.RecordsBetween(round.Arrivals[drone]!, all), collect, sequence)));
                }

                if (barrier == Collector.DroppedBarrier)
                {
                    admitted ??= Admission.Admit(all);
                }
            }
        }

        var messages = new List<(int Drone, ProtocolMessage Message)>();
        if (admitted is { } a)
        {
            // The members learn the view before the release (one link each, in order), drone 0 installs it, and only
            // then does the newcomer hear of it: it speaks to drone 0 only in a view drone 0 already acts on.
            messages.AddRange(a.Members.Select(d => (d, (ProtocolMessage)a.Change)));
            messages.Add((Self, a.Change));
            messages.AddRange(a.Welcomes.Select(w => (w.Drone, (ProtocolMessage)w.Welcome)));
        }

        messages.AddRange(releases.Select(r => (r.Drone, (ProtocolMessage)r.Release)));
        _engine.SendEach(messages);
    }

    /// <summary>Whether the interval's record is held, or was dropped by a collection (nobody asks for those). Caller holds the gate.</summary>
    private bool HoldsRecord(int drone, int index)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "BarrierManager.HoldsRecord: the caller holds the gate");

        return index <= _store.CollectedUpTo(drone) || _store.TryGet(drone, index, out _);
    }

    /// <summary>Whether every record between <paramref name="known"/> and <paramref name="target"/> is held. Caller holds the gate.</summary>
    private bool HoldsRecordsBetween(int[] known, VectorTimestamp target)
    {
        Debug.Assert(Monitor.IsEntered(_gate), "BarrierManager.HoldsRecordsBetween: the caller holds the gate");

        for (var drone = 0; drone < Drones; drone++)
        {
            for (var index = known[drone] + 1; index <= target[drone]; index++)
            {
                if (!HoldsRecord(drone, index))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>One barrier under way: each drone's arrival VT (null until it arrives), and whether some drone asked for a collection.</summary>
    private sealed class BarrierRound(int drones)
    {
        public int[]?[] Arrivals { get; } = new int[]?[drones];

        public bool Collect { get; set; }
    }
}
