using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using HiveMind.Net.Codec;
using HiveMind.Net.Transport;
using MessagePack;

namespace HiveMind.Net.Tests.Transport;

[Collection(TimingCollection.Name)]
public sealed class MeshNodeTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    public void FormMesh_Drones_LinkEveryPairExactlyOnce(int drones)
    {
        using var mesh = new LocalMesh(drones);
        foreach (var node in mesh.Nodes)
        {
            var expected = Enumerable.Range(0, drones).Where(p => p != node.Id).ToList();
            Assert.True(expected.SequenceEqual(node.ConnectedPeers),
                $"drone {node.Id} is linked to [{string.Join(",", node.ConnectedPeers)}], expected [{string.Join(",", expected)}]");
            Assert.True(node.RejectedConnections == 0, $"drone {node.Id} rejected {node.RejectedConnections} connection(s) of its own mesh");
        }
    }

    [Fact]
    public void FormMesh_NodesListeningOnEveryInterface_AdvertiseTheAddressTheirTrafficToDroneZeroLeavesFrom()
    {
        var options = LocalMesh.NewOptions();
        using var zero = new MeshNode(0, options, new TestConsumer());
        var everywhere = options with { ListenAddress = IPAddress.Any };
        using var one = new MeshNode(1, everywhere, new TestConsumer());
        using var two = new MeshNode(2, everywhere with { AdvertiseAddress = IPAddress.Parse("127.0.0.2") }, new TestConsumer());
        var nodes = new[] { zero, one, two };
        var errors = new ConcurrentQueue<Exception>();
        var threads = nodes.Select(node => new Thread(() =>
        {
            try
            {
                node.FormMesh(3, zero.ListenEndpoint, TimeSpan.FromSeconds(30));
            }
            catch (Exception error)
            {
                errors.Enqueue(error);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60)), "FormMesh did not return within 60 s"));
        Assert.True(errors.IsEmpty, $"forming a mesh with drones 1 and 2 on 0.0.0.0: {string.Join("; ", errors.Select(e => e.Message))}");

        // Drone 1 gave no address: it registered 127.0.0.1 (its route to drone 0 on loopback), not 0.0.0.0, and drone 2 dialed that.
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, one.ListenEndpoint.Port), two.EndpointOf(1));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, one.ListenEndpoint.Port), zero.EndpointOf(1));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.2"), two.ListenEndpoint.Port), zero.EndpointOf(2));
    }

    [Theory]
    [InlineData("0.0.0.0", false)]
    [InlineData("::", false)]
    [InlineData("::ffff:0.0.0.0", false)]
    [InlineData("255.255.255.255", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("239.1.2.3", false)]
    [InlineData("ff02::1", false)]
    [InlineData("127.0.0.1", true)]
    [InlineData("10.231.0.2", true)]
    [InlineData("::ffff:10.0.0.1", true)]
    [InlineData("2001:db8::1", true)]
    public void ARegisteredAddress_MustBeOneHostsAddress(string address, bool connectable) =>
        Assert.True(HostRoutes.IsConnectable(IPAddress.Parse(address)) == connectable, $"{address} taken as {(connectable ? "not " : string.Empty)}one host's address");

    [Fact]
    public void ANodeListeningOnEveryIPv6Interface_TakesIPv4ConnectionsToo()
    {
        var options = LocalMesh.NewOptions();
        using var zero = new MeshNode(0, options with { ListenAddress = IPAddress.IPv6Any }, new TestConsumer());
        using var one = new MeshNode(1, options, new TestConsumer());
        var registry = new IPEndPoint(IPAddress.Loopback, zero.ListenEndpoint.Port);
        var errors = new ConcurrentQueue<Exception>();
        var threads = new[] { (zero, (IPEndPoint?)null), (one, registry) }.Select(n => new Thread(() =>
        {
            try
            {
                n.Item1.FormMesh(2, n.Item2, TimeSpan.FromSeconds(30));
            }
            catch (Exception error)
            {
                errors.Enqueue(error);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60)), "FormMesh did not return within 60 s"));
        Assert.True(errors.IsEmpty, $"drone 1 dialing drone 0 (on [::]:{zero.ListenEndpoint.Port}) at {registry}: {string.Join("; ", errors.Select(e => e.Message))}");
    }

    [Fact]
    public void Options_AdvertisingEveryInterface_AreRefused()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new MeshNode(1, LocalMesh.NewOptions() with { AdvertiseAddress = IPAddress.Any }, new TestConsumer()));
        Assert.Contains("AdvertiseAddress must be an address others can connect to, not 0.0.0.0, ::, a multicast group or broadcast", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MeshNode(1, LocalMesh.NewOptions() with { AdvertiseAddress = IPAddress.Parse("239.1.2.3") }, new TestConsumer()));
    }

    [Fact]
    public void Send_ManyFramesFromSeveralPeers_ArriveInOrderPerLink()
    {
        const int PerSender = 20_000;
        using var mesh = new LocalMesh(4);
        var senders = Enumerable.Range(1, 3).Select(id => new Thread(() =>
        {
            for (long i = 0; i < PerSender; i++)
            {
                mesh.Nodes[id].Send(0, TestConsumer.Numbered, i, static (ref MessagePackWriter w, long v) => w.Write(v));
            }
        })).ToList();
        senders.ForEach(t => t.Start());
        senders.ForEach(t => Assert.True(t.Join(Wait), "a sender did not finish within 20 s"));
        mesh.Consumers[0].WaitFor(3 * PerSender, Wait, "drone 0 receiving from drones 1..3");

        var next = new long[4];
        foreach (var (peer, value) in mesh.Consumers[0].Received)
        {
            Assert.True(value == next[peer], $"drone 0 got {value} from drone {peer}, expected {next[peer]}: order broken");
            next[peer]++;
        }

        var link = mesh.Nodes[1].GetLink(0)!;
        Assert.Equal(PerSender, link.Counters.SentMessages(TestConsumer.Numbered));
        Assert.Equal(PerSender, mesh.Nodes[0].GetLink(1)!.Counters.ReceivedMessages(TestConsumer.Numbered));
        Assert.Equal(link.Counters.SentBytes(TestConsumer.Numbered), mesh.Nodes[0].GetLink(1)!.Counters.ReceivedBytes(TestConsumer.Numbered));
    }

    [Fact]
    public void Request_ConcurrentFromAllDrones_EachGetsItsOwnReply()
    {
        using var mesh = new LocalMesh(4);
        var failures = new ConcurrentQueue<string>();
        var threads = mesh.Nodes.SelectMany(node => Enumerable.Range(0, 4).Where(p => p != node.Id).Select(peer => new Thread(() =>
        {
            var rng = new Random((node.Id * 10) + peer);
            for (var i = 0; i < 300; i++)
            {
                var payload = new byte[rng.Next(0, 5000)];
                rng.NextBytes(payload);
                var reply = node.Request(peer, TestConsumer.Echo, payload, static (ref MessagePackWriter w, byte[] p) => w.Write(p), Wait);
                var echoed = reply.BinaryBody();
                if (!echoed.Span.SequenceEqual(payload))
                {
                    failures.Enqueue($"drone {node.Id} request {i} to drone {peer}: {payload.Length} bytes sent, {echoed.Length} came back different");
                }
            }
        }))).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a requester did not finish within 60 s"));
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(5)));
        Assert.All(mesh.Nodes, node => Assert.Equal(0, node.PendingRequests));
    }

    /// <summary>
    /// Two drones that serve each other's large replies at once: 64 replies of 256 KiB each way, asked for all at once.
    /// A receive thread that wrote replies itself would block in a full socket while the other side's did the same,
    /// neither would read, and the failure detector would remove a healthy peer.
    /// </summary>
    [Fact]
    public void Request_LargeRepliesBothWaysAtOnce_AllArriveAndNoPeerIsReported()
    {
        var options = LocalMesh.NewOptions() with { HeartbeatInterval = TimeSpan.FromMilliseconds(100), FailureTimeout = TimeSpan.FromMilliseconds(1500) };
        using var mesh = new LocalMesh(2, options);
        var failed = new ConcurrentQueue<string>();
        foreach (var node in mesh.Nodes)
        {
            node.PeerFailed += (peer, reason) => failed.Enqueue($"drone {node.Id} reported drone {peer}: {reason}");
        }

        const int Requests = 64, Size = 256 << 10;
        using var start = new Barrier(2);
        var results = new ConcurrentQueue<string>();
        var threads = mesh.Nodes.Select(node => new Thread(() =>
        {
            start.SignalAndWait();
            // Small requests for large replies, as diff requests are.
            var replies = Enumerable.Range(0, Requests)
                .Select(_ => node.RequestAsync(1 - node.Id, TestConsumer.Fetch, Size, static (ref MessagePackWriter w, int n) => w.Write(n), TimeSpan.FromSeconds(30)))
                .ToArray();
            for (var i = 0; i < Requests; i++)
            {
                try
                {
                    var length = replies[i].GetAwaiter().GetResult().BinaryBody().Length;
                    results.Enqueue(length == Size ? "ok" : $"drone {node.Id} reply {i}: {length} bytes, expected {Size}");
                }
                catch (MeshException error)
                {
                    results.Enqueue($"drone {node.Id} reply {i} from drone {1 - node.Id}: {error.Message}");
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a requester did not finish within 60 s"));
        Assert.True(failed.IsEmpty, string.Join("\n", failed));
        var wrong = results.Where(r => r != "ok").ToList();
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {2 * Requests} replies went wrong; first: {wrong.FirstOrDefault()}");
    }

    [Fact]
    public void Request_NoReply_TimesOutNamingPeerAndKind()
    {
        using var mesh = new LocalMesh(2);
        var error = Assert.Throws<MeshException>(() =>
            mesh.Nodes[1].Request(0, TestConsumer.Silent, 0, static (ref MessagePackWriter w, int _) => w.WriteNil(), TimeSpan.FromMilliseconds(200)));
        Assert.Contains("no reply from drone 0 to kind 18 within 200 ms", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, mesh.Nodes[1].PendingRequests);
    }

    [Fact]
    public void Request_PeerDies_FailsWithLinkClosedAndReportsPeer()
    {
        using var mesh = new LocalMesh(3);
        var failed = new BlockingCollection<(int Peer, string Reason)>();
        mesh.Nodes[1].PeerFailed += (peer, reason) => failed.Add((peer, reason));
        var request = mesh.Nodes[1].RequestAsync(2, TestConsumer.Silent, 0, static (ref MessagePackWriter w, int _) => w.WriteNil(), TimeSpan.FromMinutes(1));
        mesh.Nodes[2].Dispose();
        var error = Assert.Throws<MeshException>(() => request.GetAwaiter().GetResult());
        Assert.Contains("to drone 2 failed: link closed", error.Message, StringComparison.Ordinal);
        Assert.True(failed.TryTake(out var report, Wait), "drone 1 did not report drone 2 failed within 20 s");
        Assert.Equal(2, report.Peer);
        Assert.NotNull(mesh.Nodes[1].GetLink(0)); // the other link is untouched
    }

    [Fact]
    public void Connect_WrongClusterKey_IsRejectedBothWays()
    {
        using var mesh = new LocalMesh(2);
        using var rejected = new BlockingCollection<string>();
        mesh.Nodes[0].ConnectionRejected += rejected.Add;
        using var stranger = new MeshNode(5, LocalMesh.NewOptions(), new TestConsumer());
        var error = Assert.Throws<MeshException>(() => stranger.Connect(0, mesh.Nodes[0].ListenEndpoint, TimeSpan.FromMilliseconds(300)));
        Assert.Contains("cannot connect to drone 0", error.Message, StringComparison.Ordinal);
        Assert.True(rejected.TryTake(out var reason, Wait), "drone 0 did not reject the stranger's connection within 20 s");
        // The stranger gives up as soon as drone 0's proof fails for it: drone 0 then sees its proof fail, the connection
        // end, or the connection reset, whichever comes first.
        Assert.True(
            reason.Contains("did not prove the cluster key", StringComparison.Ordinal) || reason.Contains("closed during the handshake", StringComparison.Ordinal)
            || reason.Contains("reset by peer", StringComparison.Ordinal),
            reason);
        Assert.Null(mesh.Nodes[0].GetLink(5));
    }

    [Fact]
    public void HostileConnections_RandomTruncatedOversized_AreDroppedAndNothingLeaks()
    {
        using var mesh = new LocalMesh(2);
        var target = mesh.Nodes[0].ListenEndpoint;
        var rng = new Random(99);
        var rejections = 0;
        var gate = new object();
        mesh.Nodes[0].ConnectionRejected += _ =>
        {
            lock (gate)
            {
                rejections++;
                Monitor.PulseAll(gate);
            }
        };
        Exercise(1);
        var handlesBefore = OpenHandles();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        Exercise(2000);
        var deadline = DateTime.UtcNow + Wait;
        lock (gate)
        {
            while (rejections < 2001)
            {
                var left = deadline - DateTime.UtcNow;
                Assert.True(left > TimeSpan.Zero, $"drone 0 rejected {rejections} of 2001 hostile connections within 20 s");
                Monitor.Wait(gate, left);
            }
        }

        // The mesh still works, and what the strangers cost is given back.
        var reply = mesh.Nodes[1].Request(0, TestConsumer.Echo, new byte[] { 1, 2, 3 }, static (ref MessagePackWriter w, byte[] p) => w.Write(p), Wait);
        Assert.Equal(3, reply.BinaryBody().Length);
        var handlesAfter = OpenHandles();
        var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(handlesAfter - handlesBefore < 20, $"open handles went from {handlesBefore} to {handlesAfter} after 2000 hostile connections");
        Assert.True(memoryAfter - memoryBefore < 8 << 20, $"managed memory grew by {(memoryAfter - memoryBefore) >> 10} KiB after 2000 hostile connections");

        void Exercise(int count)
        {
            for (var i = 0; i < count; i++)
            {
                using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                socket.Connect(target);
                byte[] bytes;
                switch (i % 4)
                {
                    case 0: // random garbage
                        bytes = new byte[rng.Next(1, 300)];
                        rng.NextBytes(bytes);
                        break;
                    case 1: // a length prefix claiming 2 GB
                        bytes = [0x7F, 0xFF, 0xFF, 0xFF, 0x93];
                        break;
                    case 2: // a truncated Hello
                        bytes = [0x00, 0x00, 0x00, 0x30, 0x93, 0x01, 0x00];
                        break;
                    default: // a well-formed Hello with a forged nonce size
                        bytes = [0x00, 0x00, 0x00, 0x08, 0x93, 0x01, 0x00, 0x93, 0x01, 0x07, 0xC4, 0x00];
                        break;
                }

                socket.Send(bytes);
                socket.Shutdown(SocketShutdown.Send);
            }
        }
    }

    [Fact]
    public void AuthenticatedPeer_BadFrames_CloseOnlyItsLink()
    {
        using var mesh = new LocalMesh(3);
        var failed = new BlockingCollection<(int Peer, string Reason)>();
        mesh.Nodes[0].PeerFailed += (peer, reason) => failed.Add((peer, reason));

        // An impostor with the key, given an id by drone 0 as a newcomer: an unknown kind (sealed as a member seals frames).
        using (var socket = AuthenticatedSocket(mesh, out var impostor, out var cipher))
        {
            socket.Send(Opening(cipher));
            socket.Send(Sealed(cipher, 0x93, 0x63, 0x00, 0xC0)); // [99, 0, nil]: kind 99 is nobody's
            Assert.True(failed.TryTake(out var report, Wait), "drone 0 did not close the link that sent an unknown kind");
            Assert.Equal(impostor, report.Peer);
            Assert.Contains("unexpected kind 99", report.Reason, StringComparison.Ordinal);
        }

        using (var socket = AuthenticatedSocket(mesh, out _, out _))
        {
            var prefix = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(prefix, (uint)mesh.Options.MaxFrameBytes + LinkCipher.TagBytes + 1);
            socket.Send(prefix);
            Assert.True(failed.TryTake(out var report, Wait), "drone 0 did not close the link that announced an oversized frame");
            Assert.Contains("outside 1..", report.Reason, StringComparison.Ordinal);
        }

        using (var socket = AuthenticatedSocket(mesh, out var impostor, out var cipher))
        {
            socket.Send(Opening(cipher));
            socket.Send(Sealed(cipher, 0x93, 0x10, 0x00, 0xD9)); // kind 16 with a truncated str 8 body
            Assert.True(failed.TryTake(out var report, Wait), "drone 0 did not close the link that sent a malformed body");
            Assert.Equal(impostor, report.Peer);
        }

        // A well-formed frame that is not sealed (as a relay on the path would inject it) fails authentication.
        using (var socket = AuthenticatedSocket(mesh, out var impostor, out _))
        {
            socket.Send(Frame(0x93, 0x12, 0x00, 0xC0));
            Assert.True(failed.TryTake(out var report, Wait), "drone 0 did not close the link that sent an unsealed frame");
            Assert.Equal(impostor, report.Peer);
            Assert.Contains("failed authentication", report.Reason, StringComparison.Ordinal);
        }

        Assert.Equal([1, 2], mesh.Nodes[0].ConnectedPeers);
        mesh.Nodes[1].Send(0, TestConsumer.Numbered, 5L, static (ref MessagePackWriter w, long v) => w.Write(v));
        mesh.Consumers[0].WaitFor(1, Wait, "drone 0 receiving from drone 1 after the bad links closed");
    }

    [Fact]
    public void AuthenticatedPeers_RandomFrames_CloseTheirLinksAndNothingLeaks()
    {
        using var mesh = new LocalMesh(2);
        var closed = new BlockingCollection<int>();
        mesh.Nodes[0].PeerFailed += (peer, _) => closed.Add(peer);
        var rng = new Random(2024);
        var handlesBefore = OpenHandles();

        // 300 impostors holding the key, each sending random bytes inside a well-formed length prefix, a
        // random prefix, or a frame cut short; every one must cost drone 0 just that link.
        for (var n = 10; n < 310; n++)
        {
            using var socket = AuthenticatedSocket(mesh, out var id, out var cipher);
            var body = new byte[rng.Next(1, 200)];
            rng.NextBytes(body);
            switch (id % 3)
            {
                case 0:
                    socket.Send(id % 2 == 0 ? Frame(body) : Sealed(cipher, body)); // unsealed, or sealed with random contents
                    break;
                case 1:
                    socket.Send(body);
                    break;
                default:
                    socket.Send(Frame(body)[..(4 + (body.Length / 2))]);
                    break;
            }

            socket.Shutdown(SocketShutdown.Send);
            Assert.True(closed.TryTake(out var peer, Wait), $"drone 0 kept the link of impostor {id} after its bad frame");
            Assert.Equal(id, peer);
        }

        Assert.Equal([1], mesh.Nodes[0].ConnectedPeers);
        var reply = mesh.Nodes[1].Request(0, TestConsumer.Echo, new byte[] { 9 }, static (ref MessagePackWriter w, byte[] p) => w.Write(p), Wait);
        Assert.Equal(9, reply.BinaryBody().Span[0]);
        var handlesAfter = OpenHandles();
        Assert.True(handlesAfter - handlesBefore < 20, $"open handles went from {handlesBefore} to {handlesAfter} after 300 bad authenticated links");
    }

    [Fact]
    public void Heartbeats_IdleLinks_StayUpPastTheFailureTimeout()
    {
        using var mesh = new LocalMesh(3);
        var failed = new ConcurrentQueue<int>();
        foreach (var node in mesh.Nodes)
        {
            node.PeerFailed += (peer, _) => failed.Enqueue(peer);
        }

        // Idle for twice the failure timeout: heartbeats alone keep every link up.
        using var idle = new ManualResetEventSlim();
        Assert.False(idle.Wait(mesh.Options.FailureTimeout * 2), "nothing sets this event; the wait is the idle period");
        Assert.True(failed.IsEmpty, $"drone(s) {string.Join(",", failed)} reported failed while only idle");
        Assert.True(mesh.Nodes[1].GetLink(0)!.Counters.SentMessages(MessageKind.Heartbeat) >= 5, "drone 1 sent too few heartbeats to drone 0");
    }

    [Fact]
    public void BusyPeers_UnderBulkLoadBothWays_AreNotReported()
    {
        var options = LocalMesh.NewOptions() with
        {
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
            FailureTimeout = TimeSpan.FromMilliseconds(1000),
            SendQueueBytes = 1 << 20,
        };
        using var mesh = new LocalMesh(2, options);
        var failed = new ConcurrentQueue<string>();
        foreach (var node in mesh.Nodes)
        {
            node.PeerFailed += (peer, reason) => failed.Enqueue($"drone {node.Id} reported drone {peer}: {reason}");
        }

        // Each side pushes 3000 frames of 64 KiB (about 190 MiB) at the other through bounded queues.
        const int Frames = 3000;
        var payload = new byte[64 << 10];
        var senders = mesh.Nodes.Select(node => new Thread(() =>
        {
            for (var i = 0; i < Frames; i++)
            {
                node.Send(1 - node.Id, TestConsumer.Silent, payload, static (ref MessagePackWriter w, byte[] p) => w.Write(p));
            }
        })).ToList();
        senders.ForEach(t => t.Start());
        senders.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a bulk sender did not finish within 60 s"));
        mesh.Consumers[0].WaitForSilent(Frames, Wait, "drone 0 receiving drone 1's bulk frames");
        mesh.Consumers[1].WaitForSilent(Frames, Wait, "drone 1 receiving drone 0's bulk frames");
        Assert.True(failed.IsEmpty, string.Join("\n", failed));
        Assert.Equal(Frames, mesh.Nodes[1].GetLink(0)!.Counters.ReceivedMessages(TestConsumer.Silent));
    }

    [Fact]
    public void SilentPeer_IsReportedWithinTheFailureTimeout_AndKeptUntilDisconnected()
    {
        using var mesh = new LocalMesh(2);
        var silent = new BlockingCollection<(int Peer, long Ms)>();
        var failed = new ConcurrentQueue<int>();
        mesh.Nodes[0].PeerSilent += (peer, ms) => silent.Add((peer, ms));
        mesh.Nodes[0].PeerFailed += (peer, _) => failed.Enqueue(peer);

        // An authenticated peer that never sends another byte (as a frozen process would).
        using var socket = AuthenticatedSocket(mesh, out var six, out _);
        var started = DateTime.UtcNow;
        Assert.True(silent.TryTake(out var report, mesh.Options.FailureTimeout * 3), $"drone 0 did not report the silent drone {six}");
        var took = DateTime.UtcNow - started;
        Assert.Equal(six, report.Peer);
        Assert.True(report.Ms >= mesh.Options.FailureTimeout.TotalMilliseconds, $"drone 6 was reported silent after {report.Ms} ms, under the failure timeout");
        Assert.True(took < mesh.Options.FailureTimeout + TimeSpan.FromSeconds(1), $"drone 6 was reported {took.TotalMilliseconds:F0} ms after it fell silent");

        // A silent peer is a report, not a verdict: its link stays up until the node is told to disconnect it.
        Assert.NotNull(mesh.Nodes[0].GetLink(six));
        Assert.True(failed.IsEmpty, "drone 0 closed the link of a peer that was only silent");
        mesh.Nodes[0].Disconnect(six, "removed in the test");
        Assert.Null(mesh.Nodes[0].GetLink(six));

        // It cannot come back silently: a new handshake under its id is refused.
        Assert.Throws<InvalidDataException>(() => AuthenticatedSocketAs(mesh, six).Dispose());
    }

    /// <summary>
    /// A key holder cannot take over a member's link: claiming a linked drone's id is refused, with or without a claim to
    /// carry its link on (which needs the secret of that link's first handshake), and the member's link goes on.
    /// </summary>
    [Fact]
    public void KeyHolder_ClaimingALinkedDronesId_CannotTakeItsLinkOver()
    {
        using var mesh = new LocalMesh(2);
        var failed = new ConcurrentQueue<int>();
        var broken = new ConcurrentQueue<int>();
        mesh.Nodes[0].PeerFailed += (peer, _) => failed.Enqueue(peer);
        mesh.Nodes[0].LinkBroken += (peer, _) => broken.Enqueue(peer);
        var rejected = new BlockingCollection<string>();
        mesh.Nodes[0].ConnectionRejected += rejected.Add;

        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            socket.Connect(mesh.Nodes[0].ListenEndpoint);
            var told = Assert.Throws<InvalidDataException>(() => Handshake.Connect(socket, mesh.Options, 1, 0));
            Assert.Contains("already has a link", told.Message, StringComparison.Ordinal);
            Assert.True(rejected.TryTake(out var plain, Wait), "drone 0 did not reject a second link claiming drone 1");
            Assert.Contains("already has a link", plain, StringComparison.Ordinal);
        }

        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            socket.Connect(mesh.Nodes[0].ListenEndpoint);
            var refused = Assert.Throws<InvalidDataException>(() => Handshake.Connect(socket, mesh.Options, 1, 0, resumeKey: RandomNumberGenerator.GetBytes(32)));
            Assert.Contains("does not have", refused.Message, StringComparison.Ordinal);
            Assert.True(rejected.TryTake(out var resume, Wait), "drone 0 did not reject a claim to carry on drone 1's link without its secret");
            Assert.Contains("does not have", resume, StringComparison.Ordinal);
        }

        mesh.Nodes[1].Send(0, TestConsumer.Numbered, 7L, static (ref MessagePackWriter w, long v) => w.Write(v));
        mesh.Consumers[0].WaitFor(1, Wait, "drone 0 receiving from drone 1 after the claims on its link");
        Assert.True(failed.IsEmpty && broken.IsEmpty, $"drone 1's link was touched: failed [{string.Join(",", failed)}], broken [{string.Join(",", broken)}]");
    }

    /// <summary>
    /// Frames the peer has read but not acknowledged are back-pressure, like frames queued: a sender whose peer has not
    /// acknowledged past the soft limit waits (its link stays up), and goes on once the peer acknowledges.
    /// </summary>
    [Fact]
    public void Sender_AheadOfThePeersAcknowledgements_WaitsInsteadOfClosingTheLink()
    {
        var options = LocalMesh.NewOptions() with { MaxFrameBytes = 4 << 20, SendQueueBytes = 1 << 20, FailureTimeout = TimeSpan.FromSeconds(10) };
        using var mesh = new LocalMesh(1, options);
        var failed = new ConcurrentQueue<string>();
        mesh.Nodes[0].PeerFailed += (peer, reason) => failed.Enqueue($"drone 0 closed drone {peer}: {reason}");
        using var socket = AuthenticatedSocket(mesh, out var peer, out var cipher);
        socket.Send(Opening(cipher));

        // The peer reads every frame and counts the numbered ones, but acknowledges nothing until told to.
        long numbered = 0;
        using var acknowledge = new ManualResetEventSlim();
        using var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = new Thread(() =>
        {
            var prefix = new byte[4];
            try
            {
                while (true)
                {
                    stream.ReadExactly(prefix);
                    var frame = new byte[BinaryPrimitives.ReadUInt32BigEndian(prefix)];
                    stream.ReadExactly(frame);
                    var length = cipher.Open(prefix, frame);
                    if (length > 2 && frame[1] != MessageKind.Heartbeat && frame[1] != MessageKind.Resume)
                    {
                        Interlocked.Increment(ref numbered);
                    }

                    if (acknowledge.IsSet)
                    {
                        var taken = (ulong)Interlocked.Read(ref numbered);
                        var heartbeat = new byte[] { 0x93, MessageKind.Heartbeat, 0xCF, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0 };
                        BinaryPrimitives.WriteUInt64BigEndian(heartbeat.AsSpan(3), taken);
                        socket.Send(Sealed(cipher, heartbeat));
                    }
                }
            }
            catch (Exception error) when (error is SocketException or ObjectDisposedException or EndOfStreamException or IOException)
            {
                // The test is over.
            }
        })
        {
            IsBackground = true,
        };
        reader.Start();

        // 48 MiB of 256 KiB frames: past the soft limit of what may be unacknowledged (8 MiB with these settings) and past
        // the hard one (16 MiB), where a sender that took no account of acknowledgements closed the link.
        const int Frames = 192;
        var payload = new byte[256 << 10];
        var sent = 0;
        var sender = new Thread(() =>
        {
            try
            {
                for (var i = 0; i < Frames; i++)
                {
                    mesh.Nodes[0].Send(peer, TestConsumer.Silent, payload, static (ref MessagePackWriter w, byte[] p) => w.Write(p));
                    Interlocked.Increment(ref sent);
                }
            }
            catch (MeshException error)
            {
                failed.Enqueue($"drone 0's send {Volatile.Read(ref sent)} failed: {error.Message}");
            }
        });
        sender.Start();
        Assert.False(sender.Join(TimeSpan.FromSeconds(3)), $"drone 0 sent all {Frames} frames (48 MiB) to a peer that acknowledged none, or gave up: {string.Join("; ", failed)}");
        Assert.True(failed.IsEmpty, string.Join("\n", failed));
        Assert.NotNull(mesh.Nodes[0].GetLink(peer));
        var before = Volatile.Read(ref sent);

        acknowledge.Set();
        Assert.True(sender.Join(Wait), $"drone 0 did not go on once acknowledged: {Volatile.Read(ref sent)} of {Frames} sent (waited at {before})");
        Assert.True(failed.IsEmpty, string.Join("\n", failed));
    }

    /// <summary>
    /// A connector that gave up on a handshake the acceptor had just taken (its answer came too late) and starts anew is
    /// not refused for "already has a link": the new link takes the place of the one it never spoke on.
    /// </summary>
    [Fact]
    public void Connector_StartingAnewBeforeItSpokeOnItsFirstLink_TakesThatLinksPlace()
    {
        var options = LocalMesh.NewOptions();
        var consumer = new TestConsumer();
        using var zero = new MeshNode(0, options, consumer);
        var failed = new ConcurrentQueue<string>();
        zero.PeerFailed += (peer, reason) => failed.Enqueue($"drone 0 took drone {peer} for failed: {reason}");
        using var first = new Socket(SocketType.Stream, ProtocolType.Tcp);
        first.Connect(zero.ListenEndpoint);
        Handshake.Connect(first, options, 1, 0).Cipher?.Dispose(); // taken by drone 0; this side says nothing more
        Assert.NotNull(zero.GetLink(1));

        using var one = new MeshNode(1, options, new TestConsumer());
        one.Connect(0, zero.ListenEndpoint, Wait);
        one.Send(0, TestConsumer.Numbered, 3L, static (ref MessagePackWriter w, long v) => w.Write(v));
        consumer.WaitFor(1, Wait, "drone 0 receiving from drone 1 over the link that took the first one's place");
        Assert.True(failed.IsEmpty, string.Join("\n", failed));
    }

    /// <summary>A drone whose drone 0 goes while the run forms (before the peer table) stops waiting at once, not at the start's deadline.</summary>
    [Fact]
    public void FormMesh_DroneZeroGoneBeforeThePeerTable_EndsTheStartAtOnce()
    {
        var options = LocalMesh.NewOptions();
        var zero = new MeshNode(0, options, new TestConsumer());
        using var one = new MeshNode(1, options, new TestConsumer());
        Exception? error = null;
        var formed = false;
        var forming = new Thread(() =>
        {
            try
            {
                one.FormMesh(3, zero.ListenEndpoint, TimeSpan.FromSeconds(60)); // drone 2 never comes: no table yet
                formed = true;
            }
            catch (MeshException thrown)
            {
                error = thrown;
            }
        });
        forming.Start();
        var deadline = DateTime.UtcNow + Wait;
        while (zero.GetLink(1) is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "drone 1 did not link to drone 0 within 20 s");
            Thread.Yield();
        }

        zero.Dispose();
        Assert.True(forming.Join(Wait), "drone 1 went on waiting for a peer table from a drone 0 that is gone");
        Assert.True(error is not null && error.Message.Contains("drone 0 left before sending the peer table", StringComparison.Ordinal), $"drone 1's start ended with: {(formed ? "a formed mesh" : error?.Message)}");
    }

    /// <summary>A peer still silent after four failure timeouts is cut off: its link closes, which the layer above acts on.</summary>
    [Fact]
    public void SilentPeer_StillSilentAfterFourTimeouts_IsCutOff()
    {
        var options = LocalMesh.NewOptions() with { HeartbeatInterval = TimeSpan.FromMilliseconds(50), FailureTimeout = TimeSpan.FromMilliseconds(300) };
        using var mesh = new LocalMesh(2, options);
        var failed = new BlockingCollection<(int Peer, string Reason)>();
        mesh.Nodes[0].PeerFailed += (peer, reason) => failed.Add((peer, reason));
        using var socket = AuthenticatedSocket(mesh, out var six, out _);
        Assert.True(failed.TryTake(out var report, options.SendStallTimeout * 4), $"drone 0 did not cut off drone {six}, silent for {options.SendStallTimeout.TotalSeconds * 4} s");
        Assert.Equal(six, report.Peer);
        Assert.Contains("cut off", report.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// A socket that proved the key to drone 0 as a newcomer, the id drone 0 gave it (a member gone wrong has an id of the
    /// run), and the cipher its frames must be sealed with.
    /// </summary>
    private static Socket AuthenticatedSocket(LocalMesh mesh, out int id, out LinkCipher cipher)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.Connect(mesh.Nodes[0].ListenEndpoint);
        (id, _, var given) = Handshake.ConnectAsNewcomer(socket, mesh.Options);
        cipher = given.Cipher ?? throw new InvalidOperationException("the mesh's frames are not sealed");
        return Adopted(mesh, socket, id);
    }

    /// <summary>A socket that proves the key to drone 0 as drone <paramref name="self"/>, an id of its own choosing.</summary>
    private static Socket AuthenticatedSocketAs(LocalMesh mesh, int self)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.Connect(mesh.Nodes[0].ListenEndpoint);
        Handshake.Connect(socket, mesh.Options, self, 0).Cipher?.Dispose();
        return Adopted(mesh, socket, self);
    }

    private static Socket Adopted(LocalMesh mesh, Socket socket, int self)
    {
        // Adoption happens after the acceptor checks the proof; wait for it, or for the refusal.
        var deadline = DateTime.UtcNow + Wait;
        while (mesh.Nodes[0].GetLink(self) is null)
        {
            if (socket.Poll(1000, SelectMode.SelectRead) && socket.Available == 0)
            {
                socket.Dispose();
                throw new InvalidDataException($"drone 0 refused drone {self} after the handshake");
            }

            Assert.True(DateTime.UtcNow < deadline, $"drone 0 did not adopt drone {self}'s link within 20 s");
        }

        return socket;
    }

    /// <summary>The sealed Resume frame that opens a connection of a new link: [kind 11, 0 frames taken, [next frame 1]].</summary>
    private static byte[] Opening(LinkCipher cipher) => Sealed(cipher, 0x93, 0x0B, 0x00, 0x91, 0x01);

    private static byte[] Frame(params byte[] body)
    {
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame, 4);
        return frame;
    }

    /// <summary>A frame of <paramref name="body"/> sealed as the link's next one.</summary>
    private static byte[] Sealed(LinkCipher cipher, params byte[] body)
    {
        var plain = new byte[4 + body.Length];
        body.CopyTo(plain, 4);
        var frame = new byte[plain.Length + LinkCipher.TagBytes];
        cipher.Seal(plain, frame);
        return frame;
    }

    private static int OpenHandles() => Directory.GetFiles("/proc/self/fd").Length;

    [Fact]
    public void Options_Invalid_NameTheSetting()
    {
        Assert.Contains("ClusterKey", Assert.Throws<ArgumentException>(() => new MeshOptions { ClusterKey = new byte[4] }.Validate()).Message, StringComparison.Ordinal);
        Assert.Equal("FailureTimeout", Assert.Throws<ArgumentOutOfRangeException>(() => new MeshOptions
        {
            ClusterKey = RandomNumberGenerator.GetBytes(16),
            HeartbeatInterval = TimeSpan.FromSeconds(2),
            FailureTimeout = TimeSpan.FromSeconds(1),
        }.Validate()).ParamName);
        Assert.Equal("NetworkThreadNice", Assert.Throws<ArgumentOutOfRangeException>(() => new MeshOptions
        {
            ClusterKey = RandomNumberGenerator.GetBytes(16),
            NetworkThreadNice = -21,
        }.Validate()).ParamName);
    }

    /// <summary>
    /// The mesh's receive, send and heartbeat threads run at the mesh's nice value, below the program's, so that serving
    /// other drones does not wait behind busy application threads; threads they start (the runtime's pool workers and
    /// timers) begin at the process's value again, and the program's own threads keep it. Lowering a nice value needs
    /// CAP_SYS_NICE: where this process lacks it (a container without it, a user), the threads keep the process's.
    /// </summary>
    [Fact]
    public void MeshThreads_RunAtTheMeshsNiceValue_ThreadsTheyStartDoNot()
    {
        var processNice = NiceOf($"self/task/{Environment.ProcessId}");

        // What this process may do, and what a thread started by a reniced thread gets, found on a throwaway thread.
        var (allowed, childNice) = (false, int.MinValue);
        var probe = new Thread(() =>
        {
            allowed = NetworkThreads.Prioritize(-7) == 0;
            var child = new Thread(() => childNice = NiceOf("thread-self"));
            child.Start();
            child.Join();
        });
        probe.Start();
        probe.Join();
        Assert.True(childNice == processNice, $"a thread started by a thread at nice -7 (allowed: {allowed}) runs at {childNice}, not the process's {processNice}");

        var options = LocalMesh.NewOptions() with { NetworkThreadNice = -7 };
        using var mesh = new LocalMesh(2, options);
        var expected = allowed ? -7 : processNice;
        var threads = new Dictionary<string, int>();
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            threads.Clear();
            foreach (var task in Directory.GetDirectories("/proc/self/task"))
            {
                try
                {
                    var name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                    if (name.StartsWith("hivemind 0", StringComparison.Ordinal))
                    {
                        threads[$"{name} (thread {Path.GetFileName(task)})"] = NiceOf(task[("/proc/".Length)..]);
                    }
                }
                catch (IOException)
                {
                    // the thread ended meanwhile
                }
            }

            // Drone 0 runs a heartbeat thread, and a receive and a send thread for its link to drone 1.
            if ((threads.Count >= 3 && threads.Values.All(n => n == expected)) || DateTime.UtcNow > deadline)
            {
                break;
            }

            Thread.Yield();
        }

        Assert.True(threads.Count >= 3, $"drone 0's mesh threads: {string.Join(", ", threads.Keys)}; expected heartbeat, receive and send threads");
        Assert.True(
            threads.Values.All(n => n == expected),
            $"drone 0's mesh threads run at nice {string.Join(", ", threads.Select(t => $"{t.Key}: {t.Value}"))}; expected {expected} (lowering allowed here: {allowed})");
        var own = NiceOf("thread-self");
        Assert.True(own == processNice, $"the test's own thread runs at nice {own}, the process's main thread at {processNice}: the mesh changed a thread not its own");
    }

    // Field 19 of /proc/<path>/stat, after the command name in parentheses (which may hold spaces).
    private static int NiceOf(string path)
    {
        var stat = File.ReadAllText($"/proc/{path}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture);
    }
}
