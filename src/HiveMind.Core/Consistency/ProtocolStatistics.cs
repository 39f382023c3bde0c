namespace HiveMind.Consistency;

/// <summary>What one drone's protocol engine did. Diffs are made on network threads too, so those counters are interlocked.</summary>
internal sealed class ProtocolStatistics
{
    private long _diffsMade;
    private long _diffBytesMade;

    public long ReadMisses { get; internal set; }

    public long TwinsMade { get; internal set; }

    /// <summary>Write faults that kept a twin from an earlier interval (its run went on) instead of making one.</summary>
    public long TwinsKept { get; internal set; }

    public long IntervalsClosed { get; internal set; }

    /// <summary>The runtime's own barriers (start, exit, the barrier behind Distribute): not the program's, so not in <see cref="Barriers"/>.</summary>
    public long RuntimeBarriers { get; internal set; }

    public long DiffsApplied { get; internal set; }

    public long DiffBytesApplied { get; internal set; }

    /// <summary>Diff requests asked again because a writer's reply stopped at its size limit with diffs still owed.</summary>
    public long DiffRequestsContinued { get; internal set; }

    /// <summary>Write notices the misses looked at: those not applied yet, those applied since the page's last miss, and one a writer of the page.</summary>
    public long NoticesExamined { get; internal set; }

    /// <summary>Acquires that first let other drones' lock requests, on their way in, take the engine's gate.</summary>
    public long LockRequestsLetIn { get; internal set; }

    public long LockAcquiresLocal { get; internal set; }

    /// <summary>Lock attempts (<see cref="LrcEngine.TryAcquire"/>) answered busy.</summary>
    public long LockAttemptsBusy { get; internal set; }

    /// <summary>Acquires that took over the queued request of this drone's refused attempt instead of asking again.</summary>
    public long LockAttemptsTakenOver { get; internal set; }

    public long LockAcquiresRemote { get; internal set; }

    public long LockWaitTicks { get; internal set; }

    public long Barriers { get; internal set; }

    public long GarbageCollections { get; internal set; }

    public long WholePagesFetched { get; internal set; }

    /// <summary>Pages whose every holder failed, so the stale local copy became the page (PROTOCOL.md, "Failures and churn").</summary>
    public long PagesResurrected { get; internal set; }

    /// <summary>Pages whose lost diffs were made up by another live drone's copy that held them.</summary>
    public long PagesAdopted { get; internal set; }

    /// <summary>The most consistency data (records, notices, diffs, twins) this drone held at a barrier.</summary>
    public long PeakConsistencyBytes { get; internal set; }

    public long BarrierWaitTicks { get; internal set; }

    /// <summary>Time the application thread spent bringing invalid pages up to date (access misses).</summary>
    public long MissTicks { get; internal set; }

    /// <summary>Time the application thread spent on twins and pending diffs at write faults.</summary>
    public long WriteFaultTicks { get; internal set; }

    public long DiffsMade => Interlocked.Read(ref _diffsMade);

    public long DiffBytesMade => Interlocked.Read(ref _diffBytesMade);

    internal void CountDiffMade(int bytes)
    {
        Interlocked.Increment(ref _diffsMade);
        Interlocked.Add(ref _diffBytesMade, bytes);
    }
}
