namespace HiveMind.Consistency;

/// <summary>A message between the protocol engines of two drones. The mesh adapter turns each into a frame.</summary>
public abstract record ProtocolMessage;

/// <summary>
/// Acquire request for <paramref name="Lock"/>: sent by <paramref name="Requester"/> to the lock's manager,
/// which forwards it to the last requester. <paramref name="Timestamp"/> is the requester's VT.
/// </summary>
public sealed record LockRequest(int Lock, int Requester, long Sequence, int[] Timestamp) : ProtocolMessage;

/// <summary>A <see cref="LockRequest"/> forwarded by the lock's manager to the previous last requester.</summary>
public sealed record ForwardedLockRequest(LockRequest Request) : ProtocolMessage;

/// <summary>
/// Grant of <paramref name="Lock"/> with every interval record the releaser knows that the requester's VT does
/// not cover; <paramref name="Timestamp"/> is the releaser's VT, which the acquirer ends up with.
/// </summary>
public sealed record LockGrant(int Lock, long Sequence, int[] Timestamp, IntervalRecord[] Intervals) : ProtocolMessage;

/// <summary>Arrival at a barrier: the drone's VT and the records the barrier manager's last known VT does not cover.</summary>
public sealed record BarrierArrival(int Barrier, int Drone, int[] Timestamp, IntervalRecord[] Intervals) : ProtocolMessage;

/// <summary>Departure from a barrier: the records the drone's arrival VT did not cover, and the VT everyone now has.</summary>
public sealed record BarrierRelease(int Barrier, int[] Timestamp, IntervalRecord[] Intervals) : ProtocolMessage;

/// <summary>Request for the diffs of <paramref name="Page"/> made in the writer's <paramref name="Intervals"/>.</summary>
public sealed record DiffRequest(int Page, int[] Intervals) : ProtocolMessage;

/// <summary>The diffs asked for, one per interval, in the order asked.</summary>
public sealed record DiffReply(int Page, byte[][] Diffs) : ProtocolMessage;
