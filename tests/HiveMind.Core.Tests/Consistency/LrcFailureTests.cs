using HiveMind.Consistency;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>PROTOCOL.md "Failures and churn" in memory: a drone freezes (as a killed process would) and is reported.</summary>
public sealed class LrcFailureTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    [Fact]
    public void LockHeldByFailedManager_GrantedToTheWaiter_ThenManagedByTheNextLiveDrone()
    {
        using var cluster = new InMemoryCluster(3);
        var e = cluster.Engines;

        // Lock 2 is managed by drone 2, which takes it and holds it; drone 1 asks and waits in its queue.
        e[2].Acquire(2);
        var waiter = StartAcquire(e[1], 2);
        WaitFor(() => cluster.SentTo<LockRequest>(2) >= 1, "drone 1's request for lock 2 reaching drone 2");
        cluster.Fail(2);

        Assert.True(waiter.Wait(Limit), $"drone 1 was not granted lock 2 within {Limit.TotalSeconds} s of drone 2 (holder and manager) failing; view {e[1].View.Number}");
        Assert.Equal([0, 1], e[1].View.Live);
        e[1].Release(2);

        // Drone 0 now reaches lock 2 through its new manager.
        var next = StartAcquire(e[0], 2);
        Assert.True(next.Wait(Limit), "drone 0 was not granted lock 2 after drone 1 released it in view 1");
        e[0].Release(2);
    }

    [Fact]
    public void RequestLostAtFailedManager_FreeTokenElsewhere_IsGrantedAfterRecovery()
    {
        using var cluster = new InMemoryCluster(4);
        var e = cluster.Engines;

        // Drone 2 leaves lock 1 (managed by drone 1) free on itself; drone 1 then hangs, so drone 3's request
        // for lock 1 is lost there. The rebuilt lock must hand drone 2's free token to drone 3.
        e[2].Acquire(1);
        e[2].Release(1);
        cluster.Freeze(1);
        var waiter = StartAcquire(e[3], 1);
        WaitFor(() => cluster.SentTo<LockRequest>(1) >= 2, "drone 3's request for lock 1 being sent to drone 1");
        cluster.Fail(1);

        Assert.True(waiter.Wait(Limit), $"drone 3 was not granted lock 1 within {Limit.TotalSeconds} s of the recovery of view {e[3].View.Number}");
        e[3].Release(1);
    }

    [Fact]
    public void PageWrittenByFailedDrone_NobodyFetched_ReadsTheOlderValue()
    {
        using var cluster = new InMemoryCluster(3);
        const long address = 4096 * 3;
        cluster.Heaps[0].Write(address, 5);
        cluster.Run(id => cluster.Engines[id].Barrier(0));

        cluster.Engines[2].Acquire(7);
        cluster.Heaps[2].Write(address, 9);
        cluster.Engines[2].Release(7);
        cluster.Engines[1].Acquire(7); // drone 1 now knows of the write, not its contents
        cluster.Fail(2);

        var seen = cluster.Heaps[1].Read<int>(address);
        Assert.True(seen == 5, $"drone 1 read {seen} at {address} after its writer drone 2 failed; expected the older 5 (no live drone has the 9)");
        Assert.True(cluster.Engines[1].Statistics.PagesResurrected >= 1, "the page was not counted as resurrected");
        cluster.Engines[1].Release(7);
    }

    [Fact]
    public void PageWrittenByFailedDrone_AnotherDroneFetched_ReadsItsCopy()
    {
        using var cluster = new InMemoryCluster(3);
        const long address = 4096 * 3;
        cluster.Engines[2].Acquire(7);
        cluster.Heaps[2].Write(address, 9);
        cluster.Engines[2].Release(7);

        // Drone 0 takes the write in; drone 1 learns of it (through drone 0) only after drone 2 failed.
        cluster.Engines[0].Acquire(7);
        Assert.Equal(9, cluster.Heaps[0].Read<int>(address));
        cluster.Heaps[0].Write(address + 4, 1);
        cluster.Engines[0].Release(7);
        cluster.Fail(2);
        cluster.Engines[1].Acquire(7);

        var seen = cluster.Heaps[1].Read<int>(address);
        var own = cluster.Heaps[1].Read<int>(address + 4);
        Assert.True(seen == 9, $"drone 1 read {seen} at {address}: drone 0's copy holds failed drone 2's 9");
        Assert.True(own == 1, $"drone 1 read {own} at {address + 4}: drone 0's own write is lost");
        Assert.True(cluster.Engines[1].Statistics.PagesAdopted >= 1, "drone 1 did not take the page from drone 0's copy");
        cluster.Engines[1].Release(7);
    }

    [Fact]
    public void Barrier_WaitingForAFailedDrone_CompletesWithTheLiveOnes()
    {
        using var cluster = new InMemoryCluster(3);
        var e = cluster.Engines;
        cluster.Freeze(2);
        var arrivals = new[] { StartBarrier(e[0], 4), StartBarrier(e[1], 4) };
        WaitFor(() => cluster.SentTo<BarrierArrival>(0) >= 2, "drones 0 and 1 arriving at barrier 4");
        Assert.False(arrivals[0].IsDone, "barrier 4 completed while drone 2, still in the view, had not arrived");

        cluster.Fail(2);
        Assert.True(arrivals.All(a => a.Wait(Limit)), $"barrier 4 did not complete for drones 0 and 1 within {Limit.TotalSeconds} s of drone 2 failing");
        Assert.Equal([2], e[0].View.Removed);
    }

    /// <summary>
    /// Arrivals carry only their drones' own records, so a drone removed before it arrives leaves records that only the
    /// live drones know: the round waits for their reports of the new view and releases with the removed drone's notice,
    /// so drone 0 takes the write in from drone 1's copy instead of keeping its stale one.
    /// </summary>
    [Fact]
    public void Barrier_DroneRemovedBeforeArrivingWhoseRecordsOnlyOthersKnow_ReleasesWithItsNotices()
    {
        using var cluster = new InMemoryCluster(3);
        var e = cluster.Engines;
        const long address = 4096 * 3;
        e[2].Acquire(7);
        cluster.Heaps[2].Write(address, 9);
        e[2].Release(7);
        e[1].Acquire(7);
        Assert.Equal(9, cluster.Heaps[1].Read<int>(address));
        e[1].Release(7);

        cluster.Freeze(2);
        var arrivals = new[] { StartBarrier(e[0], 4), StartBarrier(e[1], 4) };
        WaitFor(() => cluster.SentTo<BarrierArrival>(0) >= 2, "drones 0 and 1 arriving at barrier 4");
        cluster.Fail(2);
        Assert.True(arrivals.All(a => a.Wait(Limit)), $"barrier 4 did not complete for drones 0 and 1 within {Limit.TotalSeconds} s of drone 2 failing");

        var seen = cluster.Heaps[0].Read<int>(address);
        Assert.True(seen == 9, $"drone 0 read {seen} at {address} after barrier 4: drone 1 knew of failed drone 2's write of 9 before the barrier and holds it");
        Assert.True(e[0].Timestamp[2] >= 1, $"drone 0's VT after barrier 4 is [{string.Join(",", e[0].Timestamp)}]: it lacks drone 2's interval that drone 1 brought to the barrier");
    }

    [Fact]
    public void TryBarrier_WithADroneThatNeverArrives_GivesUpAfterItsTimeout_AndCompletesWhenAllDo()
    {
        using var cluster = new InMemoryCluster(3);
        var e = cluster.Engines;
        cluster.Freeze(2); // gone, and (as after the exit barrier) nobody reports it
        var timeout = TimeSpan.FromMilliseconds(300);
        var results = new bool[2];
        var waits = new[]
        {
            new Background(() => results[0] = e[0].TryBarrier(-4, timeout), "drone 0 at its last barrier"),
            new Background(() => results[1] = e[1].TryBarrier(-4, timeout), "drone 1 at its last barrier"),
        };
        Assert.True(waits.All(w => w.Wait(Limit)), $"TryBarrier with a {timeout.TotalMilliseconds} ms timeout did not return within {Limit.TotalSeconds} s");
        Assert.True(results.All(r => !r), $"TryBarrier reported drones 0 and 1 met drone 2, which never arrived: {string.Join(",", results)}");

        using var whole = new InMemoryCluster(2);
        whole.Run(id => Assert.True(whole.Engines[id].TryBarrier(-4, Limit), $"drone {id}: TryBarrier gave up though both drones arrived"));
    }

    private static Background StartAcquire(LrcEngine engine, int lockId) => new(() => engine.Acquire(lockId), $"drone {engine.Self} acquiring lock {lockId}");

    private static Background StartBarrier(LrcEngine engine, int barrier) => new(() => engine.Barrier(barrier), $"drone {engine.Self} at barrier {barrier}");

    private static void WaitFor(Func<bool> condition, string what) =>
        Assert.True(SpinWait.SpinUntil(condition, Limit), $"{what} did not happen within {Limit.TotalSeconds} s");

    /// <summary>An application-thread operation run on a thread of its own, to wait on with a limit.</summary>
    private sealed class Background
    {
        private readonly ManualResetEventSlim _done = new();
        private Exception? _error;

        public Background(Action action, string what)
        {
            What = what;
            new Thread(() =>
            {
                try
                {
                    action();
                }
                catch (Exception error)
                {
                    _error = error;
                }
                finally
                {
                    _done.Set();
                }
            })
            { IsBackground = true, Name = what }.Start();
        }

        public string What { get; }

        public bool IsDone => _done.IsSet;

        /// <summary>True when the operation finished in time; throws what it threw.</summary>
        public bool Wait(TimeSpan limit)
        {
            if (!_done.Wait(limit))
            {
                return false;
            }

            return _error is null ? true : throw new InvalidOperationException($"{What} failed: {_error.Message}", _error);
        }
    }

    /// <summary>
    /// A run that does not recover stops in the same step that removes a drone: a barrier the others already reached is
    /// never released without it, and every drone's wait ends with the reason.
    /// </summary>
    [Fact]
    public void NoRecovery_ADroneFailsWhileOthersWaitAtABarrier_TheBarrierNeverCompletesWithoutIt()
    {
        using var cluster = new InMemoryCluster(3);
        foreach (var engine in cluster.Engines)
        {
            engine.StopsOnRemoval = true;
        }

        using var arrived = new CountdownEvent(2);
        var ended = new Exception?[3];
        cluster.Run(id =>
        {
            if (id == 2)
            {
                Assert.True(arrived.Wait(TimeSpan.FromSeconds(30)), "drones 0 and 1 did not reach barrier 0");
                Assert.True(SpinWait.SpinUntil(() => cluster.SentTo<BarrierArrival>(0) >= 2, TimeSpan.FromSeconds(30)), "drone 0 did not get both arrivals");
                cluster.Fail(2);
                return;
            }

            arrived.Signal();
            ended[id] = Record.Exception(() => cluster.Engines[id].Barrier(0));
        });

        var released = cluster.SentTo<BarrierRelease>(0) + cluster.SentTo<BarrierRelease>(1);
        Assert.True(released == 0, $"{released} barrier release(s) went out after drone 2 was removed from a run that does not recover");
        for (var id = 0; id < 2; id++)
        {
            Assert.True(ended[id] is RunAbortedException, $"drone {id}'s barrier ended with {ended[id]?.GetType().Name ?? "no exception"}: {ended[id]?.Message}");
            Assert.Contains("drone 2 failed", ended[id]!.Message, StringComparison.Ordinal);
        }
    }
}
