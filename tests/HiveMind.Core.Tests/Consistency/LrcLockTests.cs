using HiveMind.Consistency;

namespace HiveMind.Core.Tests.Consistency;

public sealed class LrcLockTests
{
    [Fact]
    public void DuplicateLockRequest_AtTheManager_IsNotGrantedTwice()
    {
        using var cluster = new InMemoryCluster(3);

        // Lock 2 is managed by drone 2, which holds its token. A request of drone 0 arrives twice (a late
        // retry): the first is granted, the copy must be recognised and dropped, not forwarded or granted.
        var request = new LockRequest(2, 0, 1, [0, 0, 0]);
        cluster.Engines[2].Handle(0, request);
        cluster.Engines[2].Handle(0, request);
        cluster.Engines[2].Handle(0, request with { Sequence = 0 });

        // A barrier flushes the queues: everything sent above has been delivered when it completes.
        cluster.Run(id => cluster.Engines[id].Barrier(0));
        var grants = cluster.Delivered.GetValueOrDefault((0, nameof(LockGrant)));
        var forwards = cluster.Delivered.Where(d => d.Key.Type == nameof(ForwardedLockRequest)).Sum(d => d.Value);
        Assert.True(grants == 1, $"drone 0 received {grants} grant(s) of lock 2 for one request sent three times");
        Assert.True(forwards == 0, $"the manager forwarded {forwards} copy(ies) of a request it had already granted");
    }
}
