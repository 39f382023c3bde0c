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

        var big = new BarrierArrival(0, 3, new int[4], [.. Enumerable.Range(1, 4000).Select(Record)], false);
        var refused = Xunit.Record.Exception(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                e[1].Handle(3, big);
            }
        });
        Assert.True(refused is InvalidDataException, $"drone 1 kept {(refused is null ? "all 100" : "some")} large messages of a drone it never admitted ({refused?.Message})");
        Assert.Contains("sent more than it may before its view", refused!.Message, StringComparison.Ordinal);

        var page = Assert.Throws<InvalidOperationException>(() => e[1].Serve(3, new PageRequest(1 << 30), () => { }));
        Assert.Contains("outside the heap", page.Message, StringComparison.Ordinal);
    }
}
