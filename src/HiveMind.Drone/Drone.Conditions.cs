using System.Runtime.ExceptionServices;
using HiveMind.Consistency;
using HiveMind.Net.Transport;
using HiveMind.Wire;
using Microsoft.Extensions.Logging;

namespace HiveMind;

/// <summary>Condition variables on locks (TreadMarks' Tmk_lock_cond_wait, _signal and _broadcast).</summary>
public sealed partial class Drone
{
    // A condition's queue of waiters lies in shared memory, at the top of the heap: a header of ints [lock id + 1 (0 until
    // the first wait binds the condition to its lock), head, count, unused], then a ring of entries [ticket (ulong), drone
    // (int), unused (int)]. Only a holder of the condition's lock reads or writes it, so lazy release consistency shows each
    // holder the queue as the last holder left it, as it does the program's own data.
    private const int QueueHeaderBytes = 16;
    private const int QueueEntryBytes = 16;

    // The fewest waiters a condition holds, and how many per drone slot of the run.
    private const int MinConditionWaiters = 16;
    private const int ConditionWaitersPerSlot = 4;

    // How often a waiting thread looks whether the run stopped for this drone (Fail, Exit and Dispose also wake it at once).
    private static readonly TimeSpan ConditionAbortCheck = TimeSpan.FromMilliseconds(250);

    // Guards the locks this drone's threads hold or acquire and this drone's condition waiters; Monitor.Wait waits on it.
    private readonly object _conditionGate = new();

    // Locks a thread of this drone holds or is acquiring, and which thread: one thread at a time takes a lock to the engine.
    private readonly Dictionary<int, (int Thread, bool Held)> _locksTaken = [];

    // This drone's threads waiting on a condition, by ticket. Tickets are never reused, so a late wake finds no other waiter.
    private readonly Dictionary<ulong, ConditionWaiter> _waiters = [];
    private ulong _lastTicket;

    // Threads of this drone waiting for another of its threads to release a lock (after a condition wait, say).
    private int _lockWaiters;

    private int _conditions;
    private int _conditionWaiters;
    private long _conditionQueues;

    /// <summary>
    /// Gives up lock <paramref name="lockId"/>, which this drone must hold, waits until a signal or broadcast on condition
    /// <paramref name="condId"/> wakes this thread, and acquires the lock again before it returns (with what an acquire
    /// sees: every write made before the lock's last release). Giving up the lock is atomic with respect to signals: a
    /// signal made by a later holder of the lock wakes this thread. (Tmk_lock_cond_wait; Mesa semantics, as pthreads.)
    /// </summary>
    /// <remarks>
    /// A wait may return without its condition holding (another woken thread got to the lock first, or a wake came late),
    /// so the program waits in a loop on its predicate: <c>while (!ready) drone.LockCondWait(l, c);</c>. A condition belongs
    /// to the lock of its first wait for the rest of the run. Several threads of one drone may wait at once, each for
    /// itself; while one waits, another may take the lock. A woken thread's acquire is a synchronization of the drone like
    /// any (README, "Threads of one drone"). The wait itself has no time limit (--wait-limit bounds the acquire after it):
    /// it ends with a wake, or with an exception when the run stops for this drone or the drone exits.
    /// </remarks>
    /// <exception cref="InvalidOperationException">This drone does not hold the lock; the condition is used with another lock; its queue is full.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The lock or condition id is out of range (--locks, --conditions).</exception>
    /// <exception cref="RunAbortedException">The run stopped for this drone while the thread waited.</exception>
    /// <exception cref="ThreadInterruptedException">
    /// The thread was interrupted while it waited for a wake or for the lock from another of the drone's threads: it holds
    /// the lock again, as after <see cref="Monitor.Wait(object)"/>, and a signal that had chosen it is passed on. (An
    /// interrupt inside the protocol's own acquire, while another drone holds the lock, is not answered this way: as for
    /// <see cref="LockAcquire"/>, it leaves the lock's request outstanding.)
    /// </exception>
    public void LockCondWait(int lockId, int condId)
    {
        CheckHeld(lockId, condId, "waits on");
        ulong ticket;
        lock (_conditionGate)
        {
            // Known here before the lock is given up: a wake can only come from a later holder, and finds the waiter.
            ticket = ++_lastTicket;
            _waiters.Add(ticket, new ConditionWaiter(condId));
        }

        var released = false;
        ThreadInterruptedException? interrupted = null;
        try
        {
            Enqueue(lockId, condId, ticket);
            LockRelease(lockId);
            released = true;
            AwaitWake(lockId, condId, ticket);
        }
        catch (ThreadInterruptedException error) when (released)
        {
            interrupted = error; // answered once the lock is taken again, below
        }
        finally
        {
            lock (_conditionGate)
            {
                _waiters.Remove(ticket);
            }
        }

        // As Monitor.Wait: the thread has the lock again before it returns, even when interrupted, in the wait or while it
        // takes the lock back from another thread of this drone. (A run that stopped meanwhile throws its own reason here.)
        while (true)
        {
            try
            {
                TakeLock(lockId, condId);
                break;
            }
            catch (ThreadInterruptedException error)
            {
                interrupted ??= error;
            }
        }

        AcquireTaken(lockId);

        // Woken without a signal taking its entry (a wake for all when a drone left the run), or interrupted: the entry goes
        // now, or a later signal would spend itself on a waiter that is no longer there.
        var queued = RemoveEntry(lockId, condId, ticket);
        if (interrupted is not null)
        {
            // An interrupted waiter whose entry a signal took (before the interrupt, or while it took the lock back: the
            // wake then found no waiter) passes a signal on, as POSIX asks of a cancelled waiter, so that no other waiter
            // loses it (one more wake is harmless under Mesa semantics).
            if (!queued)
            {
                LockCondSignal(lockId, condId);
            }

            ExceptionDispatchInfo.Throw(interrupted);
        }
    }

    /// <summary>Takes this drone's <paramref name="ticket"/> out of the condition's queue if it is still there (holding the lock); whether it was.</summary>
    private bool RemoveEntry(int lockId, int condId, ulong ticket)
    {
        var queue = QueueOf(condId);
        var (_, head, count) = ReadQueue(lockId, condId, queue);
        long EntryAt(int i) => queue + QueueHeaderBytes + ((long)((head + i) % _conditionWaiters) * QueueEntryBytes);
        for (var i = 0; i < count; i++)
        {
            if (Heap.Read<ulong>(EntryAt(i)) != ticket || Heap.Read<int>(EntryAt(i) + sizeof(ulong)) != Id)
            {
                continue;
            }

            for (var j = i + 1; j < count; j++)
            {
                Heap.Write(EntryAt(j - 1), Heap.Read<ulong>(EntryAt(j)));
                Heap.Write(EntryAt(j - 1) + sizeof(ulong), Heap.Read<int>(EntryAt(j) + sizeof(ulong)));
            }

            Heap.Write(queue + (2 * sizeof(int)), count - 1);
            return true;
        }

        return false;
    }

    /// <summary>
    /// Wakes every thread of this drone that waits on a condition (each finds its predicate again): after a drone left the
    /// run, a signal may have been spent on a waiter of that drone, and Mesa semantics let a wait return without one.
    /// </summary>
    private void WakeWaitersSpuriously()
    {
        lock (_conditionGate)
        {
            foreach (var waiter in _waiters.Values)
            {
                waiter.Woken = true;
            }

            Monitor.PulseAll(_conditionGate);
        }
    }

    /// <summary>
    /// Wakes one thread (of any drone) waiting on condition <paramref name="condId"/> of lock <paramref name="lockId"/>,
    /// which this drone must hold; none waits: nothing happens (Tmk_lock_cond_signal). The woken thread returns once it has
    /// the lock again, after this drone releases it.
    /// </summary>
    /// <exception cref="InvalidOperationException">This drone does not hold the lock, or the condition is used with another lock.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The lock or condition id is out of range (--locks, --conditions).</exception>
    public void LockCondSignal(int lockId, int condId) => Signal(lockId, condId, all: false);

    /// <summary>
    /// Wakes every thread (of any drone) waiting on condition <paramref name="condId"/> of lock <paramref name="lockId"/>
    /// now, which this drone must hold; none waits: nothing happens (Tmk_lock_cond_broadcast). Each woken thread returns
    /// once it has the lock again, one after another.
    /// </summary>
    /// <exception cref="InvalidOperationException">This drone does not hold the lock, or the condition is used with another lock.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The lock or condition id is out of range (--locks, --conditions).</exception>
    public void LockCondBroadcast(int lockId, int condId) => Signal(lockId, condId, all: true);

    /// <summary>
    /// Bytes of shared heap the queues of <paramref name="conditions"/> conditions take in a run of <paramref name="slots"/>
    /// drone slots: whole pages of <paramref name="pageSize"/> bytes, so that no program block shares a page with them.
    /// </summary>
    internal static long ConditionQueueBytes(int conditions, int slots, int pageSize)
    {
        var bytes = conditions * (QueueHeaderBytes + (QueueEntryBytes * (long)ConditionWaitersFor(slots)));
        return (bytes + pageSize - 1) / pageSize * pageSize;
    }

    /// <summary>The most threads that wait on one condition at once in a run of <paramref name="slots"/> drone slots.</summary>
    internal static int ConditionWaitersFor(int slots) => Math.Max(MinConditionWaiters, ConditionWaitersPerSlot * slots);

    /// <summary>Where the condition queues lie: below the heap's end, as on every drone of the run.</summary>
    private void PlaceConditionQueues(int conditions, int slots)
    {
        _conditionWaiters = ConditionWaitersFor(slots);
        _conditionQueues = Heap.Size - ConditionQueueBytes(conditions, slots, Heap.PageSize);
    }

    private long QueueOf(int condId) => _conditionQueues + (condId * (QueueHeaderBytes + ((long)QueueEntryBytes * _conditionWaiters)));

    private void Signal(int lockId, int condId, bool all)
    {
        CheckHeld(lockId, condId, all ? "broadcasts on" : "signals");
        var queue = QueueOf(condId);
        var (_, head, count) = ReadQueue(lockId, condId, queue);
        MembershipView? view = null;
        var (taken, woken) = (0, 0);
        while (taken < count && (all || woken == 0))
        {
            // Entries of drones that left the run, and of waiters that are gone, wake nobody: the next one is tried.
            var entry = queue + QueueHeaderBytes + ((long)((head + taken) % _conditionWaiters) * QueueEntryBytes);
            var (ticket, drone) = (Heap.Read<ulong>(entry), Heap.Read<int>(entry + sizeof(ulong)));
            taken++;
            woken += Wake(drone, condId, ticket, ref view) ? 1 : 0;
        }

        if (taken > 0)
        {
            Heap.Write(queue + sizeof(int), (head + taken) % _conditionWaiters);
            Heap.Write(queue + (2 * sizeof(int)), count - taken);
        }
    }

    /// <summary>Puts this drone's <paramref name="ticket"/> at the end of the condition's queue (binding the condition to the lock at its first wait).</summary>
    private void Enqueue(int lockId, int condId, ulong ticket)
    {
        var queue = QueueOf(condId);
        var (bound, head, count) = ReadQueue(lockId, condId, queue);
        if (count == _conditionWaiters)
        {
            throw new InvalidOperationException(
                $"Drone {Id}: condition {condId} already has {count} waiters, the most one condition holds ({ConditionWaitersPerSlot} per drone slot of the run, {MinConditionWaiters} at least).");
        }

        var entry = queue + QueueHeaderBytes + ((long)((head + count) % _conditionWaiters) * QueueEntryBytes);
        Heap.Write(entry, ticket);
        Heap.Write(entry + sizeof(ulong), Id);
        Heap.Write(queue + (2 * sizeof(int)), count + 1);
        if (bound < 0)
        {
            Heap.Write(queue, lockId + 1);
        }
    }

    /// <summary>The queue's header: the lock it is bound to (-1: none yet), the ring's head and count; checked against the lock and the ring's bounds.</summary>
    private (int Lock, int Head, int Count) ReadQueue(int lockId, int condId, long queue)
    {
        var (bound, head, count) = (Heap.Read<int>(queue) - 1, Heap.Read<int>(queue + sizeof(int)), Heap.Read<int>(queue + (2 * sizeof(int))));
        if (bound < -1 || bound >= _locks || (uint)head >= (uint)_conditionWaiters || (uint)count > (uint)_conditionWaiters)
        {
            throw new InvalidOperationException(
                $"Drone {Id}: the queue of condition {condId} at 0x{queue:X} reads lock {bound}, head {head}, count {count}, which no queue of {_conditionWaiters} waiters holds: the program wrote over the condition queues at the top of the heap.");
        }

        if (bound >= 0 && bound != lockId)
        {
            throw new InvalidOperationException(
                $"Drone {Id}: condition {condId} belongs to lock {bound} (the lock of its first wait), not lock {lockId}: a condition is used with one lock.");
        }

        return (bound, head, count);
    }

    /// <summary>Wakes the waiter of <paramref name="ticket"/> on <paramref name="drone"/>; false when nobody can be woken there.</summary>
    private bool Wake(int drone, int condId, ulong ticket, ref MembershipView? view)
    {
        if (drone == Id)
        {
            return WakeHere(condId, ticket);
        }

        view ??= View;
        if (_network is null || !view.Contains(drone))
        {
            return false;
        }

        try
        {
            _network.SendConditionWake(drone, new ConditionWake(condId, ticket));
            return true;
        }
        catch (Exception error) when (error is DroneUnreachableException or MeshException)
        {
            LogWakeNotSent(_logger, Id, condId, drone, error.Message);
            return false;
        }
    }

    /// <summary>Wakes this drone's waiter of <paramref name="ticket"/> on <paramref name="condId"/>; false when there is none (it is gone, or was woken).</summary>
    private bool WakeHere(int condId, ulong ticket)
    {
        lock (_conditionGate)
        {
            if (!_waiters.TryGetValue(ticket, out var waiter) || waiter.Condition != condId || waiter.Woken)
            {
                return false;
            }

            waiter.Woken = true;
            Monitor.PulseAll(_conditionGate);
            return true;
        }
    }

    /// <summary>A peer's wake, on a network thread: a ticket no thread here waits with (its waiter is gone) is ignored.</summary>
    private void OnConditionWake(int peer, ConditionWake wake)
    {
        if (!View.Contains(peer))
        {
            LogWakeFromOutsider(_logger, Id, peer, wake.Condition);
            return;
        }

        if (!WakeHere(wake.Condition, wake.Ticket))
        {
            LogStaleWake(_logger, Id, peer, wake.Condition, wake.Ticket);
        }
    }

    private void AwaitWake(int lockId, int condId, ulong ticket)
    {
        lock (_conditionGate)
        {
            var waiter = _waiters[ticket];
            while (!waiter.Woken)
            {
                ThrowIfStopped($"on condition {condId} of lock {lockId}");
                Monitor.Wait(_conditionGate, ConditionAbortCheck);
            }
        }
    }

    /// <summary>
    /// Takes <paramref name="lockId"/> for the calling thread, to acquire it from the engine: once no other thread of this
    /// drone holds or acquires it (one thread at a time takes a lock to the engine). A thread that holds it throws, unless
    /// it waited on condition <paramref name="condId"/> (then it gave the lock up).
    /// </summary>
    private void TakeLock(int lockId, int? condId)
    {
        var thread = Environment.CurrentManagedThreadId;
        lock (_conditionGate)
        {
            if (_locksTaken.TryGetValue(lockId, out var taker) && taker.Thread == thread)
            {
                throw new InvalidOperationException(
                    $"Drone {Id} acquires lock {lockId}, which it already {(taker.Held ? "holds" : "acquires")} on this thread: locks are not reentrant.");
            }

            _lockWaiters++;
            try
            {
                while (!_locksTaken.TryAdd(lockId, (thread, false)))
                {
                    ThrowIfStopped(condId is { } c ? $"for lock {lockId} after a wait on condition {c}" : $"for lock {lockId}, which another of its threads held");
                    Monitor.Wait(_conditionGate, ConditionAbortCheck);
                }
            }
            finally
            {
                _lockWaiters--;
            }
        }
    }

    /// <summary>
    /// Acquires <paramref name="lockId"/> from the engine for the thread that took it (<see cref="TakeLock"/>), or only
    /// attempts it (<paramref name="attempt"/>); gives it back to the drone's other threads if not acquired.
    /// </summary>
    private bool AcquireTaken(int lockId, bool attempt = false)
    {
        var acquired = false;
        try
        {
            CheckRunning();
            if (attempt)
            {
                acquired = _engine.TryAcquire(lockId);
            }
            else
            {
                _engine.Acquire(lockId);
                acquired = true;
            }
        }
        finally
        {
            if (acquired)
            {
                lock (_conditionGate)
                {
                    _locksTaken[lockId] = (_locksTaken[lockId].Thread, true);
                }
            }
            else
            {
                GiveLockBack(lockId);
            }
        }

        return acquired;
    }

    /// <summary>The lock is no longer this drone's (released, or not acquired): a thread of the drone waiting for it may take it.</summary>
    private void GiveLockBack(int lockId)
    {
        lock (_conditionGate)
        {
            _locksTaken.Remove(lockId);
            if (_lockWaiters > 0)
            {
                Monitor.PulseAll(_conditionGate);
            }
        }
    }

    private void CheckHeld(int lockId, int condId, string what)
    {
        CheckRunning();
        CheckLock(lockId);
        if ((uint)condId >= (uint)_conditions)
        {
            throw new ArgumentOutOfRangeException(
                nameof(condId),
                condId,
                _conditions == 0
                    ? $"Drone {Id}: the run has no conditions (--conditions 0; give up to {DroneOptions.MaxConditions})."
                    : $"Drone {Id}: condition ids are 0 .. {_conditions - 1} (--conditions {_conditions}; a larger --conditions gives more, up to {DroneOptions.MaxConditions}).");
        }

        lock (_conditionGate)
        {
            if (!_locksTaken.TryGetValue(lockId, out var taker) || !taker.Held || taker.Thread != Environment.CurrentManagedThreadId)
            {
                throw new InvalidOperationException(
                    $"Drone {Id} {what} condition {condId} of lock {lockId}, which {(taker.Held ? "another of its threads holds" : "it does not hold")}: a condition is waited on and signalled by the thread that holds its lock.");
            }
        }
    }

    /// <summary>Throws when a thread of this drone waiting <paramref name="what"/> must not go on: the run stopped for this drone, or the drone exited.</summary>
    private void ThrowIfStopped(string what)
    {
        if (_exited || Volatile.Read(ref _disposed))
        {
            throw new InvalidOperationException($"Drone {Id} exited while a thread waited {what}.");
        }

        if ((_failure ?? _engine.AbortReason) is { } reason)
        {
            throw new RunAbortedException($"Drone {Id} cannot go on (a thread waited {what}): {reason}.");
        }
    }

    /// <summary>Wakes every thread of this drone waiting on a condition, or for a lock after one, to look whether it may go on.</summary>
    private void WakeAllWaiters()
    {
        lock (_conditionGate)
        {
            Monitor.PulseAll(_conditionGate);
        }
    }

    private sealed class ConditionWaiter(int condition)
    {
        public int Condition { get; } = condition;

        public bool Woken { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: drone {Peer}, not a member of the run's view, sent a wake of condition {Condition}; refused")]
    private static partial void LogWakeFromOutsider(ILogger logger, int droneId, int peer, int condition);

    [LoggerMessage(Level = LogLevel.Debug, Message = "drone {DroneId}: drone {Peer} woke ticket {Ticket} of condition {Condition}, which no thread here waits with (its wait ended); ignored")]
    private static partial void LogStaleWake(ILogger logger, int droneId, int peer, int condition, ulong ticket);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: a wake of condition {Condition} could not be sent to drone {Peer} (the next waiter is woken instead): {Reason}")]
    private static partial void LogWakeNotSent(ILogger logger, int droneId, int condition, int peer, string reason);
}
