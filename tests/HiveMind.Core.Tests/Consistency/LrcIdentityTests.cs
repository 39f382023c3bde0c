using HiveMind.Consistency;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>
/// A member gone wrong (it holds the key) may say only what its place in the run lets it say: fields that name a drone
/// name the sender, messages only one drone may send come from it, and what a drone not yet admitted leaves is bounded.
/// </summary>
public sealed class LrcIdentityTests
{
    [Fact]
    public void Messages_NamingAnotherDroneOrFromTheWrongSender_AreRefused()
    {
        using var cluster = new InMemoryCluster(3);
        var e = cluster.Engines;
        var vt = new int[3];
        Assert.Throws<InvalidDataException>(() => e[0].Handle(2, new Suspicion(1, 1, "forged for drone 1")));
        Assert.Throws<InvalidDataException>(() => e[0].Handle(2, new BarrierArrival(0, 1, vt, [], false)));
        Assert.Throws<InvalidDataException>(() => e[1].Handle(2, new BarrierRelease(0, vt, [], false)));
        Assert.Throws<InvalidDataException>(() => e[1].Handle(2, new LockRequest(4, 0, 1, vt)));
        Assert.Throws<InvalidDataException>(() => e[0].Handle(1, new LockReport(0, 2, vt, [], [])));

        // Lock 3 is managed by drone 0: a request forwarded by drone 2 (not its manager) is refused.
        Assert.Throws<InvalidDataException>(() => e[1].Handle(2, new ForwardedLockRequest(new LockRequest(3, 2, 1, vt))));
        Assert.Equal(0, e[0].ViewNumber);
    }

    /// <summary>
    /// Arrivals go to the barrier manager alone: a member that sends them to another drone anyway is refused there, with a
    /// protocol error that names it, the message and why, and that drone keeps neither a barrier round nor the records the
    /// arrivals carry, however many come. The run goes on.
    /// </summary>
    [Fact]
    public void BarrierArrivals_ToADroneThatIsNotTheBarrierManager_AreRefused_AndNothingOfThemIsKept()
    {
        using var cluster = new InMemoryCluster(3);
        var e = cluster.Engines;
        var before = e[1].ConsistencyBytes;
        for (var barrier = 0; barrier < 100; barrier++)
        {
            var vt = new VectorTimestamp(3);
            vt.Set(2, barrier + 1);
            var arrival = new BarrierArrival(barrier, 2, vt.Entries.ToArray(), [new IntervalRecord(2, barrier + 1, vt, [1])], false);
            var refused = Record.Exception(() => e[1].Handle(2, arrival));
            Assert.True(refused is InvalidDataException, $"drone 1, not the barrier manager, took drone 2's arrival at barrier {barrier} ({refused?.Message ?? "no error"})");
            Assert.Contains("unexpected BarrierArrival from drone 2", refused!.Message, StringComparison.Ordinal);
            Assert.Contains($"the barrier manager (drone {LrcEngine.BarrierManagerDrone})", refused.Message, StringComparison.Ordinal);
        }

        Assert.True(e[1].Barriers.RoundsUnderWay == 0, $"drone 1 keeps {e[1].Barriers.RoundsUnderWay} barrier round(s) of drone 2's refused arrivals");
        Assert.True(e[1].ConsistencyBytes == before, $"drone 1 holds {e[1].ConsistencyBytes} bytes of consistency data after drone 2's refused arrivals, {before} before");

        cluster.Run(id => e[id].Barrier(0));
        Assert.True(e[0].ViewNumber == 0, $"drone 0 is at view {e[0].ViewNumber} after drone 2's refused arrivals; no drone failed");
    }

    /// <summary>
    /// A member's interval records carry write notices that every drone acts on: a notice of a page outside the heap
    /// would reach every drone with the barrier's release and fail its application thread. It is refused where it comes in.
    /// </summary>
    [Fact]
    public void IntervalRecords_NamingPagesOutsideTheHeap_AreRefused_AndTheBarrierStillCompletes()
    {
        using var cluster = new InMemoryCluster(3);
        var e = cluster.Engines;
        var vt = new VectorTimestamp(3);
        vt.Set(2, 1);
        var record = new IntervalRecord(2, 1, vt, [1, 1 << 30]);
        var forged = new (int Drone, ProtocolMessage Message)[]
        {
            (0, new BarrierArrival(0, 2, vt.Entries.ToArray(), [record], false)),
            (0, new LockReport(0, 2, vt.Entries.ToArray(), [record], [])),
            (1, new LockGrant(0, 1, vt.Entries.ToArray(), [record])),
        };
        foreach (var (drone, message) in forged)
        {
            var refused = Record.Exception(() => e[drone].Handle(2, message));
            Assert.True(refused is InvalidDataException, $"drone {drone} took a {message.GetType().Name} of drone 2 whose record notices page {1 << 30} of a heap of 64 pages ({refused?.Message ?? "no error"})");
            Assert.Contains($"page {1 << 30}, outside the heap of 64 pages", refused!.Message, StringComparison.Ordinal);
        }

        cluster.Run(id => e[id].Barrier(0));
        Assert.Equal(0, e[0].ViewNumber);
    }

    /// <summary>
    /// A key holder under a slot no drone holds yet (slot 3) is not admitted anywhere, so what it sends would wait for an
    /// admission that never comes: what names another drone, or only drone 0 may send, is refused at once instead.
    /// </summary>
    [Fact]
    public void Messages_NamingAnotherDroneOrFromTheWrongSender_FromADroneNotYetAdmitted_AreRefusedAtOnce()
    {
        using var cluster = new InMemoryCluster(4, started: 3);
        var e = cluster.Engines;
        var vt = new int[4];
        var forged = new (int Drone, ProtocolMessage Message)[]
        {
            (1, new LockRequest(1, 2, 1, vt)),
            (0, new BarrierArrival(0, 1, vt, [], false)),
            (1, new BarrierArrival(0, 0, vt, [], false)),
            (0, new Suspicion(1, 2, "forged for drone 2")),
            (0, new LockReport(0, 1, vt, [], [])),
            (1, new ViewChange(5, [0, 3])),
            (1, new BarrierRelease(0, vt, [], true)),
            (2, new LockReset(1, [])),
            (1, new JoinWelcome(5, [0, 1, 2, 3], [], 0, vt, [], 3, 4096, 4096 * 64, [0, 0])),
            (0, new JoinRequest(1)),
            (1, new JoinRequest(3)),
            (1, new PageRequest([0])),
            (2, new DiffRequest([new PageIntervals(0, [1])])),
        };
        foreach (var (drone, message) in forged)
        {
            var refused = Record.Exception(() => e[drone].Handle(3, message));
            Assert.True(refused is InvalidDataException, $"drone {drone} took {message.GetType().Name} from drone 3, not admitted, without refusing it ({refused?.GetType().Name ?? "no error"})");
            Assert.Contains($"unexpected {message.GetType().Name} from drone 3", refused!.Message, StringComparison.Ordinal);
        }

        Assert.True(e[0].PendingNewcomers == 0, $"drone 0 has {e[0].PendingNewcomers} newcomer(s) after a join request made in drone 1's name");
    }

    /// <summary>A one-way message sent as a request by a drone not yet admitted is refused, not parked until an admission that would not make it a request either.</summary>
    [Fact]
    public void OneWayMessage_SentAsARequestByADroneNotYetAdmitted_IsRefusedNotParked()
    {
        using var cluster = new InMemoryCluster(4, started: 3);
        var e = cluster.Engines;
        var parked = false;
        var refused = Record.Exception(() => parked = e[1].Serve(3, new LockRequest(0, 3, 1, new int[4]), () => { }) is null);
        Assert.True(refused is InvalidOperationException, $"drone 1 {(parked ? "parked" : "answered")} a LockRequest that drone 3, not admitted, sent as a request ({refused?.Message ?? "no error"})");
        Assert.Contains("LockRequest from drone 3 is not a request", refused!.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Drone 0 admits every newcomer, so it knows which slots asked to join: what any other slot outside the run sends it
    /// is refused. The members cannot know and keep it (bounded) for the admission.
    /// </summary>
    [Fact]
    public void DroneZero_RefusesMessagesFromASlotThatHasNotAskedToJoin_AndKeepsThoseOfOneThatHas()
    {
        using var cluster = new InMemoryCluster(5, started: 3);
        var e = cluster.Engines;
        var vt = new int[5];
        var refused = Record.Exception(() => e[0].Handle(3, new BarrierArrival(7, 3, vt, [], true)));
        Assert.True(refused is InvalidDataException, $"drone 0 kept a BarrierArrival of drone 3, which never asked to join ({refused?.Message ?? "no error"})");
        Assert.Contains("drone 3 is not in the run and has not asked to join it", refused!.Message, StringComparison.Ordinal);
        var parked = Record.Exception(() => e[0].Serve(3, new PageRequest([0]), () => { }));
        Assert.True(parked is InvalidDataException, $"drone 0 parked a PageRequest of drone 3, which never asked to join ({parked?.Message ?? "no error"})");

        e[0].Handle(4, new JoinRequest(4));
        e[0].Handle(4, new LockRequest(0, 4, 1, vt));
        e[1].Handle(3, new LockRequest(1, 3, 1, vt));
        Assert.True(e[0].PendingNewcomers == 1, $"drone 0 has {e[0].PendingNewcomers} newcomer(s) waiting, expected drone 4");
    }

    [Fact]
    public void Grant_WithoutTheTicketOfTheRequest_IsRefused_AndTheRealOneIsTaken()
    {
        using var cluster = new InMemoryCluster(3);
        var e = cluster.Engines;

        // Drone 2 holds lock 1 (managed by drone 1), so drone 0's request waits in drone 2's hands.
        cluster.Run(id =>
        {
            if (id == 2)
            {
                e[2].Acquire(1);
            }
        });

        var acquired = new Thread(() => e[0].Acquire(1));
        acquired.Start();
        Assert.True(SpinWait.SpinUntil(() => cluster.SentTo<ForwardedLockRequest>(2) > 0, TimeSpan.FromSeconds(30)), "drone 0's request for lock 1 was not forwarded to drone 2");

        // A member that saw nothing of the request forges a grant with the right sequence but not its ticket.
        var forged = Assert.Throws<InvalidDataException>(() => e[0].Handle(1, new LockGrant(1, 1, new int[3], [], 0, Ticket: 12345)));
        Assert.Contains("without the ticket of its request", forged.Message, StringComparison.Ordinal);
        Assert.True(acquired.IsAlive, "drone 0 took a forged grant of lock 1");

        cluster.Run(id =>
        {
            if (id == 2)
            {
                e[2].Release(1);
            }
        });
        Assert.True(acquired.Join(TimeSpan.FromSeconds(30)), "drone 0 did not get lock 1 from drone 2, which had its ticket");
        e[0].Release(1);
    }

    [Fact]
    public void DroneNotYetAdmitted_CannotLeaveMoreThanItsShare_NorParkRequestsForPagesOutsideTheHeap()
    {
        // Slot 3 is free: a key holder under that id is not admitted anywhere.
        using var cluster = new InMemoryCluster(4, started: 3);
        var e = cluster.Engines;
        static IntervalRecord Record(int k)
        {
            var vt = new VectorTimestamp(4);
            vt.Set(3, k);
            return new IntervalRecord(3, k, vt, [.. Enumerable.Range(0, 60)]);
        }

        var big = new LockReport(0, 3, new int[4], [.. Enumerable.Range(1, 4000).Select(Record)], []);
        var refused = Xunit.Record.Exception(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                e[1].Handle(3, big);
            }
        });
        Assert.True(refused is InvalidDataException, $"drone 1 kept {(refused is null ? "all 100" : "some")} large messages of a drone it never admitted ({refused?.Message})");
        Assert.Contains("sent more than it may before its view", refused!.Message, StringComparison.Ordinal);

        var page = Assert.Throws<InvalidOperationException>(() => e[1].Serve(3, new PageRequest([1 << 30]), () => { }));
        Assert.Contains("outside the heap", page.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// What drones never admitted left for their admission is dropped when their links are gone: eight departed key
    /// holders cannot fill the room every later newcomer needs.
    /// </summary>
    [Fact]
    public void DronesNeverAdmitted_WhoseLinksAreGone_LeaveRoomForTheNext()
    {
        using var cluster = new InMemoryCluster(12, started: 3);
        var e = cluster.Engines;
        static LockReport Report(int from)
        {
            IntervalRecord Record(int k)
            {
                var vt = new VectorTimestamp(12);
                vt.Set(from, k);
                return new IntervalRecord(from, k, vt, [.. Enumerable.Range(0, 64)]);
            }

            return new LockReport(0, from, new int[12], [.. Enumerable.Range(1, 50).Select(Record)], []);
        }

        // Slots 3 to 10 each leave all they may (about 1 MiB); slot 11 then finds drone 1's room for drones not
        // admitted (8 MiB) full before its own share is.
        int Fill(int from)
        {
            var taken = 0;
            var full = Xunit.Record.Exception(() =>
            {
                for (; taken < 1000; taken++)
                {
                    e[1].Handle(from, Report(from));
                }
            });
            Assert.True(full is InvalidDataException, $"drone 1 kept 1000 reports of slot {from}, never admitted");
            Assert.Contains("sent more than it may before its view", full!.Message, StringComparison.Ordinal);
            return taken;
        }

        var share = Fill(3);
        for (var slot = 4; slot <= 10; slot++)
        {
            Fill(slot);
        }

        var before = Fill(11);
        Assert.True(before < share, $"slot 11 left {before} reports, as many as a slot's whole share ({share}): the room was not full");

        // Their links are gone (the mesh reports each): what they left is dropped, and slot 11 may leave its share.
        for (var slot = 3; slot <= 10; slot++)
        {
            e[1].Suspect(slot, "link closed");
        }

        var after = Fill(11);
        Assert.True(before + after >= share, $"slot 11 could leave only {before} + {after} reports once the departed slots' were dropped, short of a share ({share})");
    }
}
