namespace HiveMind.Consistency;

/// <summary>A message between the protocol engines of two drones. The mesh adapter turns each into a frame.</summary>
internal abstract record ProtocolMessage;

/// <summary>
/// Acquire request for <paramref name="Lock"/>: sent by <paramref name="Requester"/> to the lock's manager,
/// which forwards it to the last requester. <paramref name="Timestamp"/> is the requester's VT.
/// </summary>
/// <paramref name="View"/> is the lock view (the membership view of the requester's last lock recovery): lock
/// messages of an older lock view are dropped, those of a newer one wait until the recipient has recovered too.
/// <paramref name="Ticket"/> is a random number of this request: only the drones the request passes through see it,
/// and the requester takes only a grant that carries it, so no other member can grant a lock it was not asked for.
/// <paramref name="Try"/> marks an attempt that must not wait: a drone that cannot grant it at once (the lock is held or
/// asked for there) answers <see cref="LockBusy"/> and queues it as usual; the requester then passes the token on when it comes.
internal sealed record LockRequest(int Lock, int Requester, long Sequence, int[] Timestamp, int View = 0, ulong Ticket = 0, bool Try = false) : ProtocolMessage;

/// <summary>
/// Answer to an attempt (<see cref="LockRequest.Try"/>) from the drone it was forwarded to, which cannot grant it now: the
/// lock is held or asked for there. The request stays queued; its grant comes later and its requester passes it on.
/// <paramref name="View"/> is the sender's lock view, <paramref name="Ticket"/> the request's.
/// </summary>
internal sealed record LockBusy(int Lock, long Sequence, int View, ulong Ticket) : ProtocolMessage;

/// <summary>A <see cref="LockRequest"/> forwarded by the lock's manager to the previous last requester.</summary>
/// <paramref name="View"/> is the manager's lock view when it forwarded.
internal sealed record ForwardedLockRequest(LockRequest Request, int View = 0) : ProtocolMessage;

/// <summary>
/// Grant of <paramref name="Lock"/> with every interval record the releaser knows that the requester's VT does
/// not cover; <paramref name="Timestamp"/> is the releaser's VT, which the acquirer ends up with.
/// <paramref name="View"/> is the releaser's lock view; <paramref name="Ticket"/> the request's.
/// </summary>
internal sealed record LockGrant(int Lock, long Sequence, int[] Timestamp, IntervalRecord[] Intervals, int View = 0, ulong Ticket = 0) : ProtocolMessage;

/// <summary>
/// Arrival at a barrier: the drone's VT, the records the barrier manager's last known VT does not cover, and
/// whether the drone's consistency data has passed the garbage-collection threshold. <paramref name="Base"/>, when
/// given, is the release the drone last took from the manager: the VT then travels as the entries that changed since
/// that release's VT, which the manager keeps (a drone that took none, a newcomer, sends its whole VT).
/// </summary>
internal sealed record BarrierArrival(int Barrier, int Drone, int[] Timestamp, IntervalRecord[] Intervals, bool WantsCollection, ReleaseBase? Base = null) : ProtocolMessage;

/// <summary>A barrier release the manager sent, by its <paramref name="Sequence"/> number, and the VT it carried.</summary>
internal sealed record ReleaseBase(int Sequence, int[] Timestamp);

/// <summary>
/// Departure from a barrier: the records the drone's arrival VT did not cover, the VT everyone now has, and
/// whether this barrier is a garbage-collection barrier (some drone asked for one). <paramref name="Sequence"/> numbers
/// the manager's releases from 1 (0: none), so that the next arrival can name this one as its base.
/// </summary>
internal sealed record BarrierRelease(int Barrier, int[] Timestamp, IntervalRecord[] Intervals, bool Collect, int Sequence = 0) : ProtocolMessage;

/// <summary>
/// Request for one writer's diffs of several pages at once: for each page, the writer's intervals whose diffs
/// the requester lacks. A range miss costs one request per writer, not one per page.
/// </summary>
internal sealed record DiffRequest(PageIntervals[] Pages) : ProtocolMessage;

/// <summary>The intervals of one writer whose diffs of <paramref name="Page"/> are asked for.</summary>
internal readonly record struct PageIntervals(int Page, int[] Intervals);

/// <summary>The diffs asked for, per page in the order asked.</summary>
internal sealed record DiffReply(PageDiffs[] Pages) : ProtocolMessage;

/// <summary>
/// The writer's diffs of <paramref name="Page"/> that cover the intervals asked for, in interval order; one
/// diff may cover several of them.
/// </summary>
internal sealed record PageDiffs(int Page, CoveredDiff[] Diffs);

/// <summary>
/// A diff and the run of the writer's consecutive intervals it covers: the writes of intervals
/// <paramref name="First"/> to <paramref name="Last"/> to one page, with no foreign diff applied to the
/// writer's copy in between. For happens-before it stands where interval <paramref name="First"/> stands.
/// </summary>
internal readonly record struct CoveredDiff(int First, int Last, ReadOnlyMemory<byte> Bytes);

/// <summary>
/// Request for the whole of each of <paramref name="Pages"/> (after garbage collection dropped their diffs, or on a drone
/// that joined): one request names as many pages as a reply may hold (<see cref="LrcEngine.MaxPagesPerPageRequest"/>),
/// each once, so a range miss costs a few requests to each holder, not one per page.
/// </summary>
internal sealed record PageRequest(int[] Pages) : ProtocolMessage;

/// <summary>The copies of the pages asked for, one per page in the order asked.</summary>
internal sealed record PageReply(PageCopy[] Copies) : ProtocolMessage;

/// <summary>
/// A copy of <paramref name="Page"/> (its bytes, a page of them, or none when the drone holds no copy)
/// and its applied vector: for each drone, the highest interval whose writes it holds.
/// </summary>
internal sealed record PageCopy(int Page, ReadOnlyMemory<byte> Bytes, int[] Applied);

/// <summary>
/// To the barrier manager: <paramref name="Suspect"/>'s link to <paramref name="Reporter"/> broke, or (with
/// <paramref name="Silent"/>) it has been silent there for the failure timeout. A broken link removes the suspect; a
/// silence is only a report: the barrier manager removes a silent drone on its own observation.
/// </summary>
internal sealed record Suspicion(int Suspect, int Reporter, string Reason, bool Silent = false) : ProtocolMessage;

/// <summary>
/// The barrier manager's decision: membership view number <paramref name="View"/> with the drones in
/// <paramref name="Live"/>. Every drone acts on views only; messages from drones outside the view are refused.
/// </summary>
internal sealed record ViewChange(int View, int[] Live) : ProtocolMessage;

/// <summary>One lock as a drone sees it at a view change: what it holds and what it waits for.</summary>
/// <param name="Lock">The lock.</param>
/// <param name="HasToken">The drone holds the lock's token (held or free).</param>
/// <param name="Held">The drone is inside a critical section of the lock.</param>
/// <param name="Waiting">The drone waits for a grant of its request <paramref name="Sequence"/>.</param>
/// <param name="Sequence">The drone's latest request sequence for the lock.</param>
/// <param name="Ticket">The ticket of that request, for a grant the recovery makes anew.</param>
internal sealed record LockSnapshot(int Lock, bool HasToken, bool Held, bool Waiting, long Sequence, ulong Ticket = 0);

/// <summary>
/// A drone's answer to a view change, to the barrier manager: its VT, the records the manager may lack, and the
/// state of every lock it knows, so that the manager can rebuild each lock's token and queue from live drones only.
/// </summary>
internal sealed record LockReport(int View, int Drone, int[] Timestamp, IntervalRecord[] Intervals, LockSnapshot[] Locks) : ProtocolMessage;

/// <summary>
/// One lock's rebuilt state for one drone: whether it now holds the token (<paramref name="Grant"/> when the token
/// was lost with a failed drone and is granted anew to this waiting drone), the request it grants at its next
/// release, and, on the lock's manager, the last requester and the latest sequence seen from each requester.
/// </summary>
internal sealed record LockAssignment(int Lock, bool Token, LockRequest? Next, int LastRequester, int[] SeenDrones, long[] SeenSequences, LockGrant? Grant);

/// <summary>The end of lock recovery for view <paramref name="View"/>: every lock this drone takes part in, rebuilt.</summary>
internal sealed record LockReset(int View, LockAssignment[] Locks) : ProtocolMessage;

/// <summary>A newcomer (linked to every drone, with the id drone 0 gave it) asks drone 0 to admit it at the next barrier.</summary>
internal sealed record JoinRequest(int Drone) : ProtocolMessage;

/// <summary>
/// Drone 0's admission of a newcomer, sent at the end of the garbage collection that the first application barrier
/// after the request became: membership view <paramref name="View"/> (live and removed drones); the application
/// barrier <paramref name="Barrier"/> the run has just passed; <paramref name="Timestamp"/>, the VT every drone has
/// now; for each page written so far, the drones that hold it whole (<paramref name="Holders"/>, runs of pages with the same holders), from which the
/// newcomer fetches it on first access; the run's size at its start (<paramref name="Started"/>), page and heap
/// size; and <paramref name="Extra"/>, runtime state above the engine (the Distribute slot in use, the value for newcomers, the collective allocations' ballots and count).
/// </summary>
internal sealed record JoinWelcome(
    int View, int[] Live, int[] Removed, int Barrier, int[] Timestamp, PageHolders[] Holders, int Started, int PageSize, long HeapSize, long[] Extra)
    : ProtocolMessage;

/// <summary>The drones that hold pages <paramref name="First"/> .. <paramref name="First"/> + <paramref name="Count"/> - 1 whole since the last garbage collection.</summary>
internal readonly record struct PageHolders(int First, int Count, int[] Holders);
