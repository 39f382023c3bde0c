using System.Collections.Concurrent;
using System.Security.Cryptography;
using HiveMind.Allocation;
using HiveMind.Consistency;
using HiveMind.Net.Transport;
using HiveMind.Wire;
using MessagePack;

namespace HiveMind.DroneTests;

/// <summary>Condition variables on locks (LockCondWait, LockCondSignal, LockCondBroadcast) with drones in this process.</summary>
public sealed class ConditionTests
{
    private const int Lock = 3;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A bounded buffer of 2 slots under one lock, with conditions not-full and not-empty: drones 0 and 1 produce 40
    /// items each, drone 1 (on a second thread) and drone 2 consume. Every item is consumed once, whoever made it.
    /// </summary>
    [Fact]
    public void BoundedBuffer_ThreeDronesTwoConditions_EveryItemConsumedOnce()
    {
        const int notFull = 0;
        const int notEmpty = 1;
        const int slots = 2;
        const int perProducer = 40;
        using var cluster = new DroneCluster(3);
        var consumed = new ConcurrentBag<(int Drone, long Item)>();
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var buffer = drone.Array<long>(drone.Distribute(id == 0 ? drone.Malloc(4096, 4096) : 0), 8); // head, count, producers done, slots

            void Produce(int producer)
            {
                for (var i = 0; i < perProducer; i++)
                {
                    drone.LockAcquire(Lock);
                    while (buffer[1] == slots)
                    {
                        drone.LockCondWait(Lock, notFull);
                    }

                    buffer[3 + (int)((buffer[0] + buffer[1]) % slots)] = (producer * 1000) + i + 1;
                    buffer[1]++;
                    drone.LockCondSignal(Lock, notEmpty);
                    drone.LockRelease(Lock);
                }

                drone.LockAcquire(Lock);
                buffer[2]++;
                drone.LockCondBroadcast(Lock, notEmpty); // consumers waiting on an empty buffer look whether all is made
                drone.LockRelease(Lock);
            }

            void Consume()
            {
                while (true)
                {
                    drone.LockAcquire(Lock);
                    while (buffer[1] == 0 && buffer[2] < 2)
                    {
                        drone.LockCondWait(Lock, notEmpty);
                    }

                    if (buffer[1] == 0)
                    {
                        drone.LockRelease(Lock);
                        return;
                    }

                    consumed.Add((id, buffer[3 + (int)buffer[0]]));
                    buffer[0] = (buffer[0] + 1) % slots;
                    buffer[1]--;
                    drone.LockCondSignal(Lock, notFull);
                    drone.LockRelease(Lock);
                }
            }

            switch (id)
            {
                case 0:
                    Produce(0);
                    break;
                case 1:
                    // Two threads of one drone: one produces, one consumes, each waiting on its own condition.
                    Exception? failed = null;
                    var consumer = new Thread(() => failed = Record.Exception(Consume)) { Name = "drone 1 consumer" };
                    consumer.Start();
                    Produce(1);
                    Assert.True(consumer.Join(Limit), $"drone 1's consumer thread did not finish within {Limit.TotalSeconds} s");
                    Assert.Null(failed);
                    break;
                default:
                    Consume();
                    break;
            }

            drone.Barrier(0);
        }, Limit);

        var items = consumed.Select(c => c.Item).Order().ToArray();
        long[] expected = [.. Enumerable.Range(1, perProducer).Select(i => (long)i), .. Enumerable.Range(1001, perProducer).Select(i => (long)i)];
        Assert.True(items.SequenceEqual(expected), $"consumed {items.Length} items (sum {items.Sum()}), expected {expected.Length} (sum {expected.Sum()}) once each; duplicated: [{string.Join(",", items.GroupBy(i => i).Where(g => g.Count() > 1).Select(g => g.Key))}]");
        Assert.True(consumed.Any(c => c.Drone == 1) && consumed.Any(c => c.Drone == 2), $"consumed by drone 1: {consumed.Count(c => c.Drone == 1)}, by drone 2: {consumed.Count(c => c.Drone == 2)}: both consumers should take items");
    }

    /// <summary>
    /// Drones 1 and 2 wait on one condition. A signal wakes one of them (the other waits on), a broadcast both; each woken
    /// waiter sees what drone 0 wrote before it signalled and released, though it had read that page before it waited.
    /// </summary>
    [Fact]
    public void SignalWakesOneWaiter_BroadcastWakesAll_AndTheWokenSeeTheSignallersWrites()
    {
        const int waiting = 0; // layout of the shared longs
        const int phase = 1;
        const int grants = 2;
        const int payload = 3;
        const int acks = 4;
        const int returns = 5;
        const int toWaiters = 0; // conditions
        const int toSignaller = 1;
        using var cluster = new DroneCluster(3);
        var seen = new ConcurrentQueue<(int Drone, long Phase, long Payload)>();
        long returnsSeen = -1;
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var shared = drone.Array<long>(drone.Distribute(id == 0 ? drone.Malloc(4096, 4096) : 0), 8);
            if (id == 0)
            {
                drone.LockAcquire(Lock);
                AwaitCount(drone, shared, waiting, 2, toSignaller);
                shared[phase] = 1; // one grant: a signal for one waiter
                shared[grants] = 1;
                shared[payload] = 111;
                drone.LockCondSignal(Lock, toWaiters);
                AwaitCount(drone, shared, acks, 1, toSignaller);
                AwaitCount(drone, shared, waiting, 3, toSignaller); // the woken one waits again, for phase 2
                shared[phase] = 2;
                shared[payload] = 222;
                drone.LockCondBroadcast(Lock, toWaiters);
                AwaitCount(drone, shared, acks, 3, toSignaller);
                returnsSeen = shared[returns];
                drone.LockRelease(Lock);
            }
            else
            {
                drone.LockAcquire(Lock);
                _ = shared[payload]; // the page is this drone's before it waits: the wait's acquire must bring drone 0's write
                var round = 1;
                while (round <= 2)
                {
                    shared[waiting]++;
                    drone.LockCondSignal(Lock, toSignaller);
                    while (shared[phase] < round || (round == 1 && shared[phase] == 1 && shared[grants] == 0))
                    {
                        drone.LockCondWait(Lock, toWaiters);
                        shared[returns]++;
                    }

                    if (shared[phase] == 1)
                    {
                        shared[grants]--;
                    }

                    seen.Enqueue((id, shared[phase], shared[payload]));
                    shared[acks]++;
                    drone.LockCondSignal(Lock, toSignaller);
                    round = (int)shared[phase] + 1;
                }

                drone.LockRelease(Lock);
            }

            drone.Barrier(0);
        }, Limit);

        var events = string.Join("; ", seen.Select(e => $"drone {e.Drone} woken in phase {e.Phase} read payload {e.Payload}"));
        Assert.True(returnsSeen == 3, $"the waiters' LockCondWait returned {returnsSeen} times in all, not 3 (one for the signal, two for the broadcast): {events}");
        Assert.True(seen.Count(e => e.Phase == 1) == 1 && seen.Count(e => e.Phase == 2) == 2, $"expected one waiter woken by the signal and both by the broadcast: {events}");
        Assert.True(seen.All(e => e.Payload == e.Phase * 111), $"a woken waiter did not see the payload drone 0 wrote before it signalled (111 in phase 1, 222 in phase 2): {events}");
    }

    /// <summary>Waits on <paramref name="condition"/> until the long at <paramref name="index"/> reaches <paramref name="count"/>.</summary>
    private static void AwaitCount(Drone drone, SharedArray<long> shared, int index, long count, int condition)
    {
        while (shared[index] < count)
        {
            drone.LockCondWait(Lock, condition);
        }
    }

    /// <summary>
    /// Condition calls without the lock held, with ids past --conditions or --locks, and a condition used with a second
    /// lock throw, naming the drone, lock, condition and the limit; sixteen threads of one drone wait on one condition (a
    /// lone drone's most) and a seventeenth is refused; a broadcast wakes all sixteen.
    /// </summary>
    [Fact]
    public void BadUse_Throws_NamingDroneLockConditionAndLimit()
    {
        using var drone = Drone.Start(new DroneOptions { HeapSize = "1MiB", Locks = 8, Conditions = 8, Quiet = true });
        Assert.Equal("Drone 0 waits on condition 2 of lock 1, which it does not hold: a condition is waited on and signalled by the thread that holds its lock.",
            Assert.Throws<InvalidOperationException>(() => drone.LockCondWait(1, 2)).Message);
        Assert.Contains("Drone 0 signals condition 2 of lock 1, which it does not hold", Assert.Throws<InvalidOperationException>(() => drone.LockCondSignal(1, 2)).Message, StringComparison.Ordinal);
        Assert.Contains("Drone 0 broadcasts on condition 2 of lock 1, which it does not hold", Assert.Throws<InvalidOperationException>(() => drone.LockCondBroadcast(1, 2)).Message, StringComparison.Ordinal);
        foreach (var condition in new[] { -1, 8 })
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => drone.LockCondWait(1, condition));
            Assert.Contains("condition ids are 0 .. 7 (--conditions 8; a larger --conditions gives more, up to 4096)", error.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentOutOfRangeException>(() => drone.LockCondSignal(1, condition));
        }

        Assert.Contains("lock ids are 0 .. 7 (--locks 8", Assert.Throws<ArgumentOutOfRangeException>(() => drone.LockCondBroadcast(8, 0)).Message, StringComparison.Ordinal);

        // Sixteen threads wait on condition 1 of lock 0; each says so on condition 2, on which this thread waits.
        var counter = drone.Malloc(64);
        var failures = new ConcurrentQueue<Exception>();
        var waiters = Enumerable.Range(0, 16).Select(i => new Thread(() =>
        {
            try
            {
                drone.LockAcquire(0);
                drone.Heap.Write(counter, drone.Heap.Read<long>(counter) + 1);
                drone.LockCondSignal(0, 2);
                while (drone.Heap.Read<long>(counter + 8) == 0)
                {
                    drone.LockCondWait(0, 1);
                }

                drone.LockRelease(0);
            }
            catch (Exception error)
            {
                failures.Enqueue(error);
            }
        })
        { Name = $"waiter {i}" }).ToList();
        waiters.ForEach(t => t.Start());
        drone.LockAcquire(0);
        while (drone.Heap.Read<long>(counter) < 16)
        {
            drone.LockCondWait(0, 2);
        }

        // A thread that does not hold the lock (this one does) may not wait on its condition, nor release it.
        Exception? notHeld = null;
        Exception? notHeldRelease = null;
        var other = new Thread(() =>
        {
            notHeld = Record.Exception(() => drone.LockCondWait(0, 1));
            notHeldRelease = Record.Exception(() => drone.LockRelease(0));
        });
        other.Start();
        Assert.True(other.Join(TimeSpan.FromSeconds(10)), "drone 0: a wait on condition 1 from a thread that does not hold lock 0 was not refused within 10 s");
        Assert.Contains("which another of its threads holds", Assert.IsType<InvalidOperationException>(notHeld).Message, StringComparison.Ordinal);
        Assert.Contains("on a thread that does not hold it", Assert.IsType<InvalidOperationException>(notHeldRelease).Message, StringComparison.Ordinal);

        // The seventeenth wait, on a thread of its own (holding the lock) so that a wait that is not refused fails the test
        // instead of hanging it.
        drone.LockRelease(0);
        Exception? refused = null;
        var seventeenth = new Thread(() =>
        {
            drone.LockAcquire(0);
            refused = Record.Exception(() => drone.LockCondWait(0, 1));
            drone.LockRelease(0);
        });
        seventeenth.Start();
        Assert.True(seventeenth.Join(TimeSpan.FromSeconds(10)), "drone 0: a seventeenth wait on condition 1 (16 waiting, the most) was not refused within 10 s");
        var full = Assert.IsType<InvalidOperationException>(refused);
        Assert.Contains("Drone 0: condition 1 already has 16 waiters, the most one condition holds", full.Message, StringComparison.Ordinal);
        drone.LockAcquire(0);
        drone.LockAcquire(1);
        var otherLock = Assert.Throws<InvalidOperationException>(() => drone.LockCondSignal(1, 1));
        Assert.Contains("Drone 0: condition 1 belongs to lock 0 (the lock of its first wait), not lock 1", otherLock.Message, StringComparison.Ordinal);
        drone.LockRelease(1);
        drone.Heap.Write(counter + 8, 1L);
        drone.LockCondBroadcast(0, 1);
        drone.LockRelease(0);
        foreach (var waiter in waiters)
        {
            Assert.True(waiter.Join(Limit), $"drone 0: {waiter.Name} still waited on condition 1 {Limit.TotalSeconds} s after the broadcast");
        }

        Assert.True(failures.IsEmpty, $"drone 0's waiting threads failed: {string.Join("; ", failures.Select(f => f.Message))}");
        Assert.Contains("not reentrant", Assert.Throws<InvalidOperationException>(() =>
        {
            drone.LockAcquire(0);
            drone.LockAcquire(0);
        }).Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// --conditions is parsed and checked against its limit; the queues take the top of the heap (Malloc hands out only
    /// what lies below them), a heap they would take half of is refused naming both options, and a run of none has none.
    /// </summary>
    [Fact]
    public void ConditionsOption_LimitsHeapShareAndNone()
    {
        Assert.Equal(8, Tmk.ParseOptions<DroneOptions>(["--conditions", "8"]).Conditions);
        Assert.Equal(DroneOptions.DefaultConditions, new DroneOptions().Conditions);
        foreach (var conditions in new[] { -1, DroneOptions.MaxConditions + 1 })
        {
            var error = Assert.Throws<OptionsException>(() => new DroneOptions { Conditions = conditions }.Validate());
            Assert.Equal($"--conditions: must be 0 to 4096, not {conditions}.", error.Message);
        }

        var tooSmall = Assert.Throws<OptionsException>(() => Drone.Start(new DroneOptions { HeapSize = "64KiB", Conditions = 4096, Quiet = true }));
        Assert.Contains("--conditions 4096: the condition queues take 1114112 bytes of shared heap (16 waiters each for 1 drone slot(s)), more than half of --heap-size 64KiB", tooSmall.Message, StringComparison.Ordinal);

        using (var drone = Drone.Start(new DroneOptions { HeapSize = "1MiB", Quiet = true }))
        {
            var queues = Drone.ConditionQueueBytes(DroneOptions.DefaultConditions, 1, drone.Heap.PageSize);
            Assert.True(drone.Allocator.FreeBytes <= drone.Heap.Size - queues,
                $"drone 0: the allocator has {drone.Allocator.FreeBytes} bytes free in a heap of {drone.Heap.Size}, of which the condition queues take the top {queues}");
            var top = drone.Malloc(drone.Allocator.FreeBytes);
            Assert.True(top + drone.Allocator.AllocatedBytes <= drone.Heap.Size - queues,
                $"drone 0: the heap's last block [0x{top:X}, +{drone.Allocator.AllocatedBytes}) reaches into the condition queues at 0x{drone.Heap.Size - queues:X}");
        }

        using var none = Drone.Start(new DroneOptions { HeapSize = "1MiB", Conditions = 0, Quiet = true });
        Assert.Equal(none.Heap.Size - SharedAllocator.Granule, none.Allocator.FreeBytes);
        none.LockAcquire(0);
        var noConditions = Assert.Throws<ArgumentOutOfRangeException>(() => none.LockCondSignal(0, 0));
        Assert.Contains("Drone 0: the run has no conditions (--conditions 0; give up to 4096)", noConditions.Message, StringComparison.Ordinal);
    }

    /// <summary>A drone's thread waiting on a condition when the drone is disposed ends with an exception that says so.</summary>
    [Fact]
    public void Wait_DroneDisposed_ThrowsInsteadOfHanging()
    {
        var drone = Drone.Start(new DroneOptions { HeapSize = "1MiB", Quiet = true });
        Exception? ended = null;
        using var waiting = new ManualResetEventSlim();
        using var done = new ManualResetEventSlim();
        var waiter = new Thread(() =>
        {
            drone.LockAcquire(0);
            waiting.Set();
            ended = Record.Exception(() => drone.LockCondWait(0, 0));
            done.Set();
        });
        waiter.Start();
        Assert.True(waiting.Wait(Limit), "drone 0's waiter did not take lock 0");
        drone.LockAcquire(0); // only once the waiter gave it up in its wait
        drone.Dispose();
        Assert.True(done.Wait(TimeSpan.FromSeconds(5)), "drone 0's waiter still waited on condition 0 of lock 0 5 s after the drone was disposed");
        Assert.True(ended is InvalidOperationException, $"drone 0's wait ended with {ended?.GetType().Name ?? "no exception"}: {ended?.Message}");
        Assert.Contains("Drone 0 exited while a thread waited on condition 0 of lock 0", ended!.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A waiting thread that is interrupted (<see cref="Thread.Interrupt"/>) has the lock again when the
    /// <see cref="ThreadInterruptedException"/> reaches it, as with <see cref="Monitor.Wait(object)"/>, and its entry has
    /// left the condition's queue: another drone's signal then wakes the thread that waited behind it, instead of being
    /// spent on the interrupted one's stale entry.
    /// </summary>
    [Fact]
    public void Wait_Interrupted_RetakesTheLockAndLeavesTheQueue_SoAPeersSignalWakesTheNextWaiter()
    {
        using var cluster = new DroneCluster(2);
        using var aDone = new ManualResetEventSlim();
        WaitingThread? a = null, b = null;
        cluster.Run(id =>
        {
            var drone = cluster[id];
            if (id == 1)
            {
                // The signaller, once drone 0's thread A is back from its interrupted wait: one signal, for one waiter.
                Assert.True(aDone.Wait(Limit), "drone 0's thread A did not come back from its interrupted wait on condition 0 of lock 0");
                drone.LockAcquire(0);
                drone.LockCondSignal(0, 0);
                drone.LockRelease(0);
                return;
            }

            (a, b) = TwoWaiters(drone);
            a.Thread.Interrupt();
            Assert.True(a.Thread.Join(Limit), "drone 0's thread A did not come back from its interrupted wait");
            aDone.Set();
            Assert.True(b.Thread.Join(Limit), "drone 1's signal on condition 0 did not wake drone 0's thread B, which waited behind the interrupted thread A (spent on A's stale entry?)");
        }, Limit * 2);

        Assert.True(a!.Ended is ThreadInterruptedException, $"drone 0's thread A: its interrupted wait ended with {a.Ended?.GetType().Name ?? "no exception"}: {a.Ended?.Message}");
        a.CheckHeldAfter();
        b!.CheckEndedWell();
    }

    /// <summary>
    /// A thread woken by a signal and interrupted while it takes the lock back from another thread of its drone still
    /// comes back holding the lock (the interrupt is answered once it has it), as <see cref="Monitor.Wait(object)"/> does.
    /// </summary>
    [Fact]
    public void Wait_InterruptedWhileTakingTheLockBack_ComesBackHoldingIt()
    {
        using var drone = Drone.Start(new DroneOptions { HeapSize = "1MiB", Quiet = true });
        var a = new WaitingThread(drone, "A");
        drone.LockAcquire(0); // A waits
        drone.LockCondSignal(0, 0); // A wakes, and waits for the lock this thread holds

        // A cannot have the lock before this thread lets it go: it blocks (in its wait, or for the lock), and an interrupt
        // that finds it blocked is thrown there. One that finds it pulsed but not yet running (a state that still reads as
        // blocked) stays pending, and A may then find the lock free: .NET raises it at A's next block instead. Either way
        // A comes back holding the lock.
        Assert.True(SpinWait.SpinUntil(() => (a.Thread.ThreadState & ThreadState.WaitSleepJoin) != 0, Limit), "drone 0's thread A did not block on lock 0, which the test's thread holds");
        a.Thread.Interrupt();
        drone.LockRelease(0);
        Assert.True(a.Thread.Join(Limit), "drone 0's thread A did not come back from its wait on condition 0 of lock 0");
        Assert.True(a.Ended is null or ThreadInterruptedException, $"drone 0's thread A: its interrupted wait ended with {a.Ended?.GetType().Name}: {a.Ended?.Message}");
        a.CheckHeldAfter();
    }

    /// <summary>
    /// A signal made while an interrupted waiter takes the lock back (its entry still first in the queue) is not lost: the
    /// thread that waits behind it wakes, whichever of the two the signal found first.
    /// </summary>
    [Fact]
    public void Wait_SignalledWhileAnInterruptedWaiterTakesTheLockBack_WakesTheNextWaiter()
    {
        using var drone = Drone.Start(new DroneOptions { HeapSize = "1MiB", Quiet = true });
        var (a, b) = TwoWaiters(drone);
        drone.LockAcquire(0); // the queue is A, B
        a.Thread.Interrupt(); // A takes the lock back, which this thread holds
        drone.LockCondSignal(0, 0); // one signal: it must reach B, through A's entry or past it
        drone.LockRelease(0);
        Assert.True(b.Thread.Join(Limit), "the signal made while drone 0's interrupted thread A took lock 0 back did not wake thread B, which waited behind it on condition 0");
        Assert.True(a.Thread.Join(Limit), "drone 0's thread A did not come back from its interrupted wait");
        Assert.True(a.Ended is null or ThreadInterruptedException, $"drone 0's thread A's wait ended with {a.Ended?.GetType().Name}: {a.Ended?.Message}");
        a.CheckHeldAfter();
        b.CheckEndedWell();
    }

    /// <summary>Threads A and B of <paramref name="drone"/> waiting on condition 0 of lock 0, A first in its queue; lock 0 is free when this returns.</summary>
    private static (WaitingThread A, WaitingThread B) TwoWaiters(Drone drone)
    {
        var a = new WaitingThread(drone, "A");
        return (a, new WaitingThread(drone, "B")); // B starts once A waits: behind it in the queue
    }

    /// <summary>
    /// A thread of drone 0 that takes lock 0, waits on condition 0, then releases the lock, which it must hold again
    /// whatever ended the wait, and ends an interrupt still pending. The constructor returns once the thread waits (gave
    /// the lock up), so threads made one after another queue in that order.
    /// </summary>
    private sealed class WaitingThread
    {
        private readonly string _name;

        public WaitingThread(Drone drone, string name)
        {
            _name = name;
            using var holds = new ManualResetEventSlim();
            Thread = new Thread(() =>
            {
                drone.LockAcquire(0);
                holds.Set();
                Ended = Record.Exception(() => drone.LockCondWait(0, 0));
                After = Record.Exception(() =>
                {
                    drone.LockRelease(0);
                    try
                    {
                        Thread.Sleep(0); // an interrupt still pending (it found the thread running) ends here
                    }
                    catch (ThreadInterruptedException)
                    {
                    }
                });
            });
            Thread.Start();
            Assert.True(holds.Wait(Limit), $"drone 0's thread {name} did not take lock 0");
            drone.LockAcquire(0); // only once the thread gave it up in its wait
            drone.LockRelease(0);
        }

        public Thread Thread { get; }

        public Exception? Ended { get; private set; }

        public Exception? After { get; private set; }

        public void CheckHeldAfter() =>
            Assert.True(After is null, $"drone 0's thread {_name} could not release lock 0 after its wait (it should hold the lock again): {After?.GetType().Name}: {After?.Message}");

        public void CheckEndedWell()
        {
            Assert.True(Ended is null, $"drone 0's thread {_name}'s wait ended with {Ended?.GetType().Name}: {Ended?.Message}");
            CheckHeldAfter();
        }
    }

    /// <summary>
    /// A drone waits on a condition when the other drone of the run goes (drone 0, or drone 1 in a run that does not
    /// recover): the run stops for the waiter, whose wait ends with the reason instead of hanging.
    /// </summary>
    [Theory]
    [InlineData(1, "drone 0 failed")]
    [InlineData(0, "drone 1 failed and the program does not recover")]
    public void Wait_RunStops_ThrowsRunAbortedWithTheReason(int waiterId, string reason)
    {
        var cluster = new DroneCluster(2);
        var (waiter, other) = (cluster[waiterId], cluster[1 - waiterId]);
        try
        {
            Exception? ended = null;
            using var waiting = new ManualResetEventSlim();
            using var done = new ManualResetEventSlim();
            var thread = new Thread(() =>
            {
                waiter.LockAcquire(Lock);
                waiting.Set();
                ended = Record.Exception(() => waiter.LockCondWait(Lock, 5));
                done.Set();
            });
            thread.Start();
            Assert.True(waiting.Wait(Limit), $"drone {waiterId} did not take lock {Lock}");
            other.LockAcquire(Lock); // granted once the waiter gave the lock up in its wait
            other.Dispose();
            Assert.True(done.Wait(TimeSpan.FromSeconds(8)), $"drone {waiterId} still waited on condition 5 of lock {Lock} 8 s after drone {1 - waiterId} was gone");
            Assert.True(ended is RunAbortedException, $"drone {waiterId}'s wait ended with {ended?.GetType().Name ?? "no exception"}: {ended?.Message}");
            Assert.Contains(reason, ended!.Message, StringComparison.Ordinal);
        }
        finally
        {
            waiter.Dispose();
        }
    }

    /// <summary>
    /// A drone that joins a running run takes drone 0's --conditions (8) over its own (64), so its condition queues lie
    /// where the others' do: it waits for drone 0's signal and signals drone 0's wait, and a condition past 7 is refused.
    /// </summary>
    [Fact]
    public void Joiner_TakesTheRunsConditions_WaitsAndSignalsWithTheOthers()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var run = new DroneOptions { HeapSize = "1MiB", Quiet = true, MaxDronesInRun = 3, KeyFile = "unused.key", Conditions = 8 };
        var registry = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var drones = new Drone?[3];
        long seen = 0;
        using var offered = new ManualResetEventSlim();
        try
        {
            DroneThreads.Run(3, id =>
            {
                var drone = drones[id] = id switch
                {
                    0 => Drone.Join(run, new DronePlacement(0, 2) { ClusterKey = key, Listening = endpoint => registry.SetResult(endpoint.ToString()) }),
                    1 => Drone.Join(run, new DronePlacement(1, 2) { ClusterKey = key, Registry = Registry(registry) }),
                    _ => offered.Wait(Limit) ? Drone.Join(
                        new DroneOptions { HeapSize = "1MiB", Quiet = true, Join = Registry(registry), KeyFile = "unused.key", Conditions = 64 },
                        new DronePlacement(MeshNode.Newcomer, 0) { ClusterKey = key, Registry = Registry(registry) })
                        : throw new TimeoutException($"drone 0 did not offer its shared block to newcomers within {Limit.TotalSeconds} s"),
                };
                if (id == 0)
                {
                    // The joiner asks only once the block is offered, and is admitted at the next barrier, which it passes.
                    drone.ForNewcomers = drone.Malloc(4096, 4096);
                    offered.Set();
                    Assert.True(drone.WaitForJoiners(1, Limit), $"drone 0: no drone asked to join within {Limit.TotalSeconds} s");
                }

                if (id != 2)
                {
                    drone.Barrier(0); // admits the joiner, whose Join returns once it has passed it
                }

                var shared = drone.Array<long>(drone.ForNewcomers, 4);
                if (id == 0)
                {
                    drone.LockAcquire(Lock);
                    while (shared[0] == 0)
                    {
                        drone.LockCondWait(Lock, 1);
                    }

                    shared[1] = 77;
                    drone.LockCondSignal(Lock, 7);
                    drone.LockRelease(Lock);
                }
                else if (id == 2)
                {
                    var error = Assert.Throws<ArgumentOutOfRangeException>(() => drone.LockCondWait(Lock, 8));
                    Assert.Contains("condition ids are 0 .. 7 (--conditions 8;", error.Message, StringComparison.Ordinal);
                    drone.LockAcquire(Lock);
                    shared[0] = 1;
                    drone.LockCondSignal(Lock, 1);
                    while (shared[1] == 0)
                    {
                        drone.LockCondWait(Lock, 7);
                    }

                    seen = shared[1];
                    drone.LockRelease(Lock);
                }

                drone.Barrier(1);
                drone.Exit();
            }, Limit);
        }
        finally
        {
            foreach (var drone in drones)
            {
                drone?.Dispose();
            }
        }

        Assert.True(seen == 77, $"the joiner (drone 2) read {seen} after drone 0's signal, not the 77 drone 0 wrote before it");
    }

    private static string Registry(TaskCompletionSource<string> registry) =>
        registry.Task.Wait(Limit) ? registry.Task.Result : throw new TimeoutException($"drone 0 did not listen within {Limit.TotalSeconds} s");

    /// <summary>
    /// A wake whose ticket no thread waits with (its wait ended) is ignored and the link stays up; a wake of a condition
    /// outside the run's is malformed: the receiver closes the link, and in a run that does not recover the run stops.
    /// </summary>
    [Fact]
    public void WakeFromAPeer_StaleIgnored_MalformedClosesTheLink()
    {
        var cluster = new DroneCluster(2);
        try
        {
            using var failed = new ManualResetEventSlim();
            cluster[0].Failed += _ => failed.Set();
            var sender = cluster[1].Mesh!;
            sender.Send(0, ProtocolCodec.ConditionWakeKind, new ConditionWake(3, 987_654_321), static (ref MessagePackWriter w, ConditionWake m) => ConditionWake.Write(ref w, m));
            cluster.Run(id => cluster[id].Barrier(0), Limit); // after the wake on the same link: drone 0 took it and went on
            Assert.True(cluster[0].FailureReason is null, $"drone 0 stopped after a stale wake from drone 1: {cluster[0].FailureReason}");

            sender.Send(0, ProtocolCodec.ConditionWakeKind, new ConditionWake(DroneOptions.DefaultConditions, 1), static (ref MessagePackWriter w, ConditionWake m) => ConditionWake.Write(ref w, m));
            Assert.True(failed.Wait(TimeSpan.FromSeconds(8)), "drone 0 went on 8 s after drone 1 sent a wake of condition 64 (ids 0 .. 63)");
            var removal = cluster[0].Engine.RemovalReason(1);
            Assert.True(removal?.Contains($"ConditionWake of condition {DroneOptions.DefaultConditions}, outside the run's", StringComparison.Ordinal) == true,
                $"drone 0 took drone 1 for failed because '{removal}', not for its malformed wake");
        }
        finally
        {
            cluster[1].Dispose();
            cluster[0].Dispose();
        }
    }

    [Fact]
    public void WakeCodec_RoundTrips()
    {
        var wake = new ConditionWake(63, ulong.MaxValue);
        var reader = new MessagePackReader(Encode(wake));
        Assert.Equal(wake, ConditionWake.Read(ref reader, 64));
    }

    [Theory]
    [InlineData("93010203", "ConditionWake has 3 fields, expected 2")]
    [InlineData("9240cf0000000000000001", "ConditionWake of condition 64, outside the run's 64 condition(s) (ids 0 .. 63)")]
    [InlineData("92ff01", "ConditionWake of condition -1")]
    [InlineData("9201a174", "malformed ConditionWake body")]
    [InlineData("9201", "malformed ConditionWake body")]
    [InlineData("92ce8000000001", "malformed ConditionWake body")]
    public void WakeCodec_BadBody_IsRefusedAsInvalidData(string hex, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new MessagePackReader(Convert.FromHexString(hex));
            ConditionWake.Read(ref reader, 64);
        });
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    /// <summary>Wakes with bytes flipped and cut, and random bytes: the decoder returns or throws InvalidDataException, never another exception.</summary>
    [Fact]
    public void WakeCodec_MutatedAndRandomBodies_ThrowOnlyInvalidData()
    {
        var random = new Random(12);
        var encoded = Encode(new ConditionWake(5, 0x0123_4567_89AB_CDEF));
        for (var trial = 0; trial < 3000; trial++)
        {
            byte[] bytes;
            if (trial % 2 == 0)
            {
                bytes = encoded.ToArray();
                for (var flips = random.Next(1, 4); flips > 0; flips--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }

                bytes = bytes[..random.Next(1, bytes.Length + 1)];
            }
            else
            {
                bytes = new byte[random.Next(1, 24)];
                random.NextBytes(bytes);
                bytes[0] = (byte)random.Next(0x90, 0xA0);
            }

            var error = Record.Exception(() =>
            {
                var reader = new MessagePackReader(bytes);
                ConditionWake.Read(ref reader, 64);
            });
            Assert.True(error is null or InvalidDataException, $"wake body {Convert.ToHexString(bytes)} (trial {trial}) threw {error?.GetType().Name}: {error?.Message}");
        }
    }

    private static byte[] Encode(ConditionWake wake) => WireBodies.Of(wake, ConditionWake.Write);
}
