using System.Collections.Concurrent;
using HiveMind.Net.Transport;
using MessagePack;

namespace HiveMind.Net.Tests.Transport;

/// <summary>Drones that join a formed mesh: drone 0 gives ids, the newcomer links up with every live drone, a full run refuses.</summary>
[Collection(TimingCollection.Name)]
public sealed class MeshJoinTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public void Newcomer_GetsTheNextFreeId_AndLinksToEveryDrone()
    {
        using var mesh = new LocalMesh(3, LocalMesh.NewOptions() with { MaxDrones = 5 });
        using var first = new MeshNode(MeshNode.Newcomer, mesh.Options, new TestConsumer());
        var capacity = first.JoinMesh(mesh.Nodes[0].ListenEndpoint, Wait);
        Assert.True(first.Id == 3 && capacity == 5, $"the first newcomer got drone id {first.Id} of {capacity} slots, expected 3 of 5");
        Assert.Equal([0, 1, 2], first.ConnectedPeers);
        foreach (var node in mesh.Nodes)
        {
            WaitUntil(() => node.GetLink(3) is not null, $"drone {node.Id} has no link to newcomer 3");
        }

        // A frame each way between the newcomer and a drone other than drone 0.
        first.Send(2, TestConsumer.Numbered, 7L, static (ref MessagePackWriter w, long v) => w.Write(v));
        mesh.Consumers[2].WaitFor(1, Wait, "drone 2 hearing from newcomer 3");
        Assert.True(mesh.Consumers[2].Received.TryPeek(out var frame) && frame == (3, 7L), $"drone 2 got {frame}, expected (3, 7) from newcomer 3");

        using var second = new MeshNode(MeshNode.Newcomer, mesh.Options, new TestConsumer());
        Assert.Equal(5, second.JoinMesh(mesh.Nodes[0].ListenEndpoint, Wait));
        Assert.True(second.Id == 4, $"the second newcomer got drone id {second.Id}, expected 4");
        Assert.Equal([0, 1, 2, 3], second.ConnectedPeers);
    }

    /// <summary>A key holder that claims an id drone 0 never gave is refused by drone 0 and by the members; one drone 0 gave and announced links up.</summary>
    [Fact]
    public void KeyHolder_ClaimingAnIdNobodyGave_IsRefused_ButAnAnnouncedNewcomerLinks()
    {
        using var mesh = new LocalMesh(3, LocalMesh.NewOptions() with { MaxDrones = 6 });
        foreach (var target in mesh.Nodes.Take(2))
        {
            var rejected = new BlockingCollection<string>();
            target.ConnectionRejected += rejected.Add;
            using var claimer = new MeshNode(4, mesh.Options, new TestConsumer());
            // Both ends agree: the claimer is told why, and holds no link either (a link one end took and the other
            // refused would break at once and be taken for a failure).
            var refused = Assert.Throws<MeshException>(() => claimer.Connect(target.Id, target.ListenEndpoint, TimeSpan.FromMilliseconds(500)));
            Assert.True(refused.Message.Contains("not a drone of the run, nor one drone 0 gave that id", StringComparison.Ordinal), refused.Message);
            Assert.Null(claimer.GetLink(target.Id));
            Assert.True(rejected.TryTake(out var reason, Wait), $"drone {target.Id} did not refuse a link from drone 4, an id nobody gave");
            Assert.Contains("not a drone of the run, nor one drone 0 gave that id", reason, StringComparison.Ordinal);
            Assert.Null(target.GetLink(4));
        }

        using var newcomer = new MeshNode(MeshNode.Newcomer, mesh.Options, new TestConsumer());
        newcomer.JoinMesh(mesh.Nodes[0].ListenEndpoint, Wait);
        Assert.Equal([0, 1, 2], newcomer.ConnectedPeers);
    }

    /// <summary>A reply from a drone the request did not go to neither completes nor fails it.</summary>
    [Fact]
    public void Reply_FromAnotherDrone_DoesNotCompleteTheRequest()
    {
        using var mesh = new LocalMesh(3);
        var request = mesh.Nodes[1].RequestAsync(2, TestConsumer.Silent, 0, static (ref MessagePackWriter w, int _) => w.WriteNil(), TimeSpan.FromMinutes(1));

        // Drone 0, gone wrong, answers drone 1's request 1 (ids count from 1), which went to drone 2.
        mesh.Nodes[0].ReplyError(1, 1, "forged");
        mesh.Nodes[0].Reply(1, 1, 0, static (ref MessagePackWriter w, int _) => w.WriteNil());
        mesh.Nodes[0].Send(1, TestConsumer.Numbered, 1L, static (ref MessagePackWriter w, long v) => w.Write(v));
        mesh.Consumers[1].WaitFor(1, Wait, "drone 1 hearing drone 0's frame after its forged replies");
        Assert.False(request.IsCompleted, $"drone 1's request to drone 2 ended with a reply from drone 0: {request.Status}");
        Assert.Equal(1, mesh.Nodes[1].PendingRequests);
    }

    [Fact]
    public void Newcomer_ToAFullRun_IsRefusedWithTheReason()
    {
        using var mesh = new LocalMesh(2, LocalMesh.NewOptions() with { MaxDrones = 2 });
        using var rejected = new BlockingCollection<string>();
        mesh.Nodes[0].ConnectionRejected += rejected.Add;
        using var newcomer = new MeshNode(MeshNode.Newcomer, mesh.Options, new TestConsumer());
        var error = Assert.Throws<MeshException>(() => newcomer.JoinMesh(mesh.Nodes[0].ListenEndpoint, Wait));
        Assert.Contains("the run is full: it takes at most 2 drones", error.Message, StringComparison.Ordinal);
        Assert.True(rejected.TryTake(out var reason, Wait), "drone 0 did not report the refused newcomer within 20 s");
        Assert.Contains("newcomer refused", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Newcomer_WithTheWrongKey_IsRejected_AndGetsNoId()
    {
        using var mesh = new LocalMesh(2, LocalMesh.NewOptions() with { MaxDrones = 4 });
        using var stranger = new MeshNode(MeshNode.Newcomer, LocalMesh.NewOptions() with { ConnectTimeout = TimeSpan.FromMilliseconds(300) }, new TestConsumer());
        var error = Assert.Throws<MeshException>(() => stranger.JoinMesh(mesh.Nodes[0].ListenEndpoint, TimeSpan.FromMilliseconds(300)));
        Assert.Contains("did not take this drone in: drone 0 did not prove the cluster key", error.Message, StringComparison.Ordinal);
        Assert.Equal(MeshNode.Newcomer, stranger.Id);

        // The ids stay free: a newcomer with the key still gets drone id 2.
        using var newcomer = new MeshNode(MeshNode.Newcomer, mesh.Options, new TestConsumer());
        newcomer.JoinMesh(mesh.Nodes[0].ListenEndpoint, Wait);
        Assert.Equal(2, newcomer.Id);
    }

    [Fact]
    public void Newcomer_SkipsADroneThatFailed()
    {
        using var mesh = new LocalMesh(3, LocalMesh.NewOptions() with { MaxDrones = 4 });
        using var failed = new ManualResetEventSlim();
        mesh.Nodes[0].PeerFailed += (peer, _) =>
        {
            if (peer == 2)
            {
                failed.Set();
            }
        };
        mesh.Nodes[2].Dispose();
        Assert.True(failed.Wait(Wait), "drone 0 did not report drone 2 failed within 20 s of its node stopping");

        using var newcomer = new MeshNode(MeshNode.Newcomer, mesh.Options, new TestConsumer());
        newcomer.JoinMesh(mesh.Nodes[0].ListenEndpoint, Wait);
        Assert.Equal(3, newcomer.Id);
        Assert.Equal([0, 1], newcomer.ConnectedPeers);
    }

    private static void WaitUntil(Func<bool> done, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        using var tick = new ManualResetEventSlim();
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what} within {Wait.TotalSeconds} s");
            tick.Wait(TimeSpan.FromMilliseconds(10));
        }
    }
}
