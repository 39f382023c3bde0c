using HiveMind.Consistency;
using HiveMind.Memory;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>PROTOCOL.md "Failures and churn": a new drone asks the barrier manager to join and is admitted at the next barrier, as a new view.</summary>
public sealed class LrcJoinTests
{
    private const int Slots = 4;
    private const int Started = 3;
    private const int PageSize = 4096;
    private const int Pages = 8;
    private const int Locks = 3;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Three drones write interleaved regions and lock-protected counters (words of each lock spread over pages the
    /// other locks' words share); drone 3 asks to join and is admitted at barrier 1. It must see everything written
    /// before, then take part in locks and barriers as an equal: the counters come out exact on every drone and
    /// each drone sees every other's phase writes, the newcomer's included.
    /// </summary>
    [Fact]
    public void Newcomer_AdmittedAtTheNextBarrier_SeesTheHeap_AndTakesPartInLocksAndBarriers()
    {
        using var cluster = new InMemoryCluster(Slots, new HeapOptions { PageSize = PageSize, HeapSize = PageSize * 16 }, started: Started);
        var e = cluster.Engines;
        var admittedAt = -1;
        using var pastBarrierZero = new ManualResetEventSlim();
        cluster.Run(id =>
        {
            var heap = cluster.Heaps[id];
            if (id == Slots - 1)
            {
                // It asks once the run is past barrier 0, so barrier 1 is the next.
                Assert.True(pastBarrierZero.Wait(Limit), $"drone 0 did not pass barrier 0 within {Limit.TotalSeconds} s");
                var welcome = e[id].JoinRun();
                admittedAt = welcome.Barrier;
                Assert.True(welcome.Barrier == 1, $"drone {id} was admitted at barrier {welcome.Barrier}, expected 1 (the first after its request)");
                Assert.Equal([0, 1, 2, 3], e[id].View.Live);
            }
            else
            {
                WriteRegion(heap, phase: 0, id);
                Count(e[id], heap, id, rounds: 5);
                e[id].Barrier(0);
                if (id == 0)
                {
                    pastBarrierZero.Set();
                    Assert.True(e[0].WaitForNewcomers(1, Limit), $"drone 0: no join request within {Limit.TotalSeconds} s");
                }

                e[id].Barrier(1);
                Assert.True(e[id].View.Contains(Slots - 1), $"drone {id}: view {e[id].View.Number} after barrier 1 lacks the newcomer: live {string.Join(',', e[id].View.Live)}");
            }

            // Every drone, the newcomer too, sees phase 0 of the three and counters at 3 x 5.
            for (var writer = 0; writer < Started; writer++)
            {
                CheckRegion(heap, id, phase: 0, writer);
            }

            CheckCounters(heap, id, expected: Started * 5, "after the admission");
            e[id].Barrier(2);

            Count(e[id], heap, id, rounds: 4);
            WriteRegion(heap, phase: 3, id);
            e[id].Barrier(3);
            for (var writer = 0; writer < Slots; writer++)
            {
                CheckRegion(heap, id, phase: 3, writer);
            }

            CheckCounters(heap, id, expected: (Started * 5) + (Slots * 4), "after barrier 3");
        }, TimeSpan.FromSeconds(60));

        Assert.Equal(1, admittedAt);
        Assert.True(e[Slots - 1].Statistics.WholePagesFetched > 0, "the newcomer fetched no whole page: where did it get the heap from?");
        Assert.All(e.Take(Started), engine => Assert.True(engine.Statistics.GarbageCollections >= 1, $"drone {engine.Self} did not collect at the admitting barrier"));
        Assert.Empty(e[0].View.Removed);
    }

    /// <summary>
    /// Drone 2 alone writes a page, so only it holds it whole after the admitting collection; then it fails. The
    /// newcomer has no copy of its own: it must take a live drone's (drones 0 and 1 read the page), not zeros.
    /// </summary>
    [Fact]
    public void Newcomer_WhoseOnlyHolderFailed_TakesALiveDronesCopy()
    {
        using var cluster = new InMemoryCluster(Slots, new HeapOptions { PageSize = PageSize, HeapSize = PageSize * 16 }, started: Started);
        var e = cluster.Engines;
        const long address = PageSize * 5;
        using var pastBarrierZero = new ManualResetEventSlim();
        cluster.Run(id =>
        {
            if (id == Slots - 1)
            {
                Assert.True(pastBarrierZero.Wait(Limit), $"drone 0 did not pass barrier 0 within {Limit.TotalSeconds} s");
                e[id].JoinRun();
                return;
            }

            if (id == 2)
            {
                cluster.Heaps[2].Write(address, 4242L);
            }

            e[id].Barrier(0);
            Assert.True(cluster.Heaps[id].Read<long>(address) == 4242L, $"drone {id} read {cluster.Heaps[id].Read<long>(address)} at {address} after barrier 0, expected 4242");
            if (id == 0)
            {
                pastBarrierZero.Set();
                Assert.True(e[0].WaitForNewcomers(1, Limit), $"drone 0: no join request within {Limit.TotalSeconds} s");
            }

            e[id].Barrier(1);
        });

        cluster.Fail(2);
        var deadline = DateTime.UtcNow + Limit;
        while (e[3].View.Contains(2))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the newcomer's view {e[3].View.Number} still holds drone 2 {Limit.TotalSeconds} s after it failed");
            Thread.Yield();
        }

        var seen = cluster.Heaps[3].Read<long>(address);
        Assert.True(seen == 4242L, $"the newcomer (drone 3) read {seen} at {address} with its only holder (drone 2) failed, expected 4242 from a live drone's copy");
    }

    /// <summary>A newcomer hears from drone 0 before its welcome (a later view, say): its receive thread must not wait for an admission that message is queued ahead of.</summary>
    [Fact]
    public void Newcomer_MessageBeforeItsWelcome_IsKeptForAfter_NotWaitedOn()
    {
        using var cluster = new InMemoryCluster(Slots, started: Started);
        var e = cluster.Engines;
        var handled = new Thread(() => e[3].Handle(0, new ViewChange(7, [0, 1, 2, 3])));
        handled.Start();
        Assert.True(handled.Join(Limit), $"the newcomer's receive thread was still held {Limit.TotalSeconds} s after a view change from drone 0 came before its welcome");

        e[3].Suspect(1, "seen failing before admission");
        Assert.True(cluster.SentTo<Suspicion>(0) == 0, "a newcomer not yet admitted reported a suspicion, which drone 0 may not be able to hear");

        cluster.Run(id =>
        {
            if (id == Slots - 1)
            {
                e[id].JoinRun();
            }
            else
            {
                if (id == 0)
                {
                    Assert.True(e[0].WaitForNewcomers(1, Limit), $"drone 0: no join request within {Limit.TotalSeconds} s");
                }

                e[id].Barrier(0);
            }
        });
        Assert.True(e[3].ViewNumber == 7, $"the newcomer is in view {e[3].ViewNumber}; the view change kept from before its welcome (7) was not applied after it");
    }

    /// <summary>Locks whose home slot no drone holds yet spread over the live drones instead of all going to one.</summary>
    [Fact]
    public void LocksOfUnjoinedSlots_AreManagedByLiveDronesChosenByTheLockId()
    {
        using var cluster = new InMemoryCluster(6, started: 4);
        var e = cluster.Engines;

        // Slots 4 and 5 are free: lock 4 goes to live drone 4 % 4 = 0, lock 5 to live drone 5 % 4 = 1.
        foreach (var lockId in new[] { 4, 5 })
        {
            e[3].Acquire(lockId);
            e[3].Release(lockId);
        }

        Assert.True(cluster.SentTo<LockRequest>(0) == 1 && cluster.SentTo<LockRequest>(1) == 1,
            $"drone 3's requests for locks 4 and 5 went to drone 0 {cluster.SentTo<LockRequest>(0)} time(s) and drone 1 {cluster.SentTo<LockRequest>(1)} time(s); expected once each");
    }

    [Fact]
    public void JoinRequest_FromADroneThatTookPart_IsIgnored()
    {
        using var cluster = new InMemoryCluster(3);
        cluster.Engines[0].Handle(2, new JoinRequest(2));
        Assert.Equal(0, cluster.Engines[0].PendingNewcomers);
        cluster.Run(id => cluster.Engines[id].Barrier(0));
        Assert.Equal(0, cluster.Engines[0].ViewNumber);
    }

    [Fact]
    public void JoinRun_OnADroneOfTheRun_Throws()
    {
        using var cluster = new InMemoryCluster(2);
        var error = Assert.Throws<InvalidOperationException>(() => cluster.Engines[1].JoinRun());
        Assert.Contains("only a newcomer joins", error.Message, StringComparison.Ordinal);
    }

    // Region of drone d: the words d, d + Slots, d + 2 Slots, ... of the first pages, so every page holds all regions.
    private static void WriteRegion(SharedHeap heap, int phase, int drone)
    {
        for (var word = drone; word < Pages * PageSize / 8; word += Slots)
        {
            heap.Write(word * 8L, Value(phase, drone, word));
        }
    }

    private static void CheckRegion(SharedHeap heap, int reader, int phase, int writer)
    {
        for (var word = writer; word < Pages * PageSize / 8; word += Slots)
        {
            var seen = heap.Read<long>(word * 8L);
            Assert.True(seen == Value(phase, writer, word), $"drone {reader}, phase {phase}: address {word * 8} of drone {writer}'s region holds {seen}, expected {Value(phase, writer, word)}");
        }
    }

    private static long Value(int phase, int drone, int word) => (phase * 1_000_000L) + (drone * 100_000L) + word;

    // Counters of lock l: one word in each of pages Pages .. Pages + 3, at offsets that the other locks' words neighbour.
    private static long CounterAddress(int lockId, int page) => ((Pages + page) * (long)PageSize) + (lockId * 8L);

    private static void Count(LrcEngine engine, SharedHeap heap, int drone, int rounds)
    {
        for (var round = 0; round < rounds; round++)
        {
            for (var lockId = 0; lockId < Locks; lockId++)
            {
                engine.Acquire(lockId);
                var first = heap.Read<long>(CounterAddress(lockId, 0));
                for (var page = 0; page < 4; page++)
                {
                    var seen = heap.Read<long>(CounterAddress(lockId, page));
                    Assert.True(seen == first, $"drone {drone}, lock {lockId}, round {round}: counter at {CounterAddress(lockId, page)} is {seen}, its first is {first} (torn or stale)");
                    heap.Write(CounterAddress(lockId, page), seen + 1);
                }

                engine.Release(lockId);
            }
        }
    }

    private static void CheckCounters(SharedHeap heap, int drone, long expected, string when)
    {
        for (var lockId = 0; lockId < Locks; lockId++)
        {
            for (var page = 0; page < 4; page++)
            {
                var seen = heap.Read<long>(CounterAddress(lockId, page));
                Assert.True(seen == expected, $"drone {drone} {when}: counter of lock {lockId} at {CounterAddress(lockId, page)} is {seen}, expected {expected}");
            }
        }
    }
}
