namespace HiveMind.Memory;

/// <summary>What ended the validity of a heap's spans: the synchronization that began, or the heap's disposal.</summary>
internal enum SpanSynchronizationKind : byte
{
    /// <summary>An acquire of a lock.</summary>
    Acquire,

    /// <summary>An attempt at a lock (Drone.LockTryAcquire), granted or not.</summary>
    Attempt,

    /// <summary>A release of a lock.</summary>
    Release,

    /// <summary>An application barrier.</summary>
    Barrier,

    /// <summary>A Distribute (a barrier of the runtime's own).</summary>
    Distribute,

    /// <summary>The drone's Exit.</summary>
    Exit,

    /// <summary>A collective allocation (barriers of the runtime's own).</summary>
    CollectiveAllocation,

    /// <summary>The heap's disposal: its memory is gone.</summary>
    Disposal,
}

/// <summary>The synchronization that moved a heap's span epoch to <see cref="Epoch"/>: a lock or barrier id where it has one.</summary>
internal readonly record struct SpanSynchronization(int Epoch, SpanSynchronizationKind Kind, int Id);
