using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using HiveMind.Net.Codec;
using HiveMind.Net.Transport;
using HiveMind.Testing;
using MessagePack;

namespace HiveMind.Net.Tests.Transport;

/// <summary>
/// A relay on the path between two drones, without the key: it passes the handshake, then injects, replays, drops or
/// reorders frames, or cuts the connection. Every such change must break that connection with a logged reason, nothing
/// the relay does may reach the consumer, and the link must go on over a new connection with nothing lost, doubled or
/// reordered: no healthy drone is taken for failed because of an attacker on the path.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class TamperingRelayTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(Tamper.Inject, true)]
    [InlineData(Tamper.Replay, true)]
    [InlineData(Tamper.Drop, true)]
    [InlineData(Tamper.Reorder, true)]
    [InlineData(Tamper.Inject, false)]
    [InlineData(Tamper.Replay, false)]
    [InlineData(Tamper.Drop, false)]
    [InlineData(Tamper.Reorder, false)]
    [InlineData(Tamper.Cut, true)]
    public async Task Relay_ChangingTheFramesOfALink_BreaksTheConnection_AndTheLinkGoesOnWithNothingLost(Tamper tamper, bool towardAcceptor)
    {
        var options = LocalMesh.NewOptions();
        var consumers = new[] { new TestConsumer(), new TestConsumer() };
        var log = new RecordingLogger();
        using var a = new MeshNode(0, options, consumers[0], log);
        using var b = new MeshNode(1, options, consumers[1], log);
        var failed = new ConcurrentQueue<string>();
        var broken = new BlockingCollection<(int Drone, int Peer, string Reason)>();
        using var resumed = new CountdownEvent(2);
        foreach (var node in new[] { a, b })
        {
            node.PeerFailed += (peer, reason) => failed.Enqueue($"drone {node.Id} took drone {peer} for failed: {reason}");
            node.LinkBroken += (peer, reason) => broken.Add((node.Id, peer, reason));
            node.LinkResumed += _ => resumed.Signal();
        }

        // Handshake frames: Hello and Proof toward the acceptor, HelloAck back; then the Resume frame and 5 more.
        using var relay = new TamperingRelay(a.ListenEndpoint, tamper, towardAcceptor, afterFrames: (towardAcceptor ? 2 : 1) + 6, everyConnection: false);
        Form(a, b, relay.Endpoint);
        const int Frames = 200;
        var echoes = new List<Task<Reply>>();
        for (long i = 0; i < Frames; i++)
        {
            b.Send(0, TestConsumer.Numbered, i, static (ref MessagePackWriter w, long v) => w.Write(v));
            a.Send(1, TestConsumer.Numbered, i, static (ref MessagePackWriter w, long v) => w.Write(v));
            if (i % 4 == 0)
            {
                echoes.Add(b.RequestAsync(0, TestConsumer.Echo, BitConverter.GetBytes(i), static (ref MessagePackWriter w, byte[] p) => w.Write(p), Wait));
            }
        }

        consumers[0].WaitFor(Frames, Wait, $"drone 0 taking drone 1's {Frames} frames through a relay that did {tamper}");
        consumers[1].WaitFor(Frames, Wait, $"drone 1 taking drone 0's {Frames} frames through a relay that did {tamper}");
        for (var i = 0; i < echoes.Count; i++)
        {
            var echo = (await echoes[i]).BinaryBody().ToArray();
            Assert.True(BitConverter.ToInt64(echo) == i * 4, $"echo {i} came back as {BitConverter.ToInt64(echo)} after the relay did {tamper}");
        }

        // The change broke the connection with the reason, and a new one carried the link on, both ends.
        Assert.True(resumed.Wait(Wait), $"the link did not go on over a new connection at both ends after the relay's {tamper} ({resumed.CurrentCount} to go)");
        var reasons = broken.Select(r => $"drone {r.Drone} broke its connection to drone {r.Peer}: {r.Reason}").ToList();
        var expected = tamper == Tamper.Cut ? new[] { "closed the connection", "reset" } : ["failed authentication"];
        Assert.True(reasons.Any(r => expected.Any(e => r.Contains(e, StringComparison.Ordinal))), $"after the relay's {tamper}, the breaks reported were: {string.Join("; ", reasons)}");
        Assert.Contains(log.Lines, line => line.Contains("broke", StringComparison.Ordinal) && expected.Any(e => line.Contains(e, StringComparison.Ordinal)));

        // What reached each consumer is every frame once, in order, and nothing of the relay's own.
        foreach (var (consumer, drone) in new[] { (consumers[0], 0), (consumers[1], 1) })
        {
            var got = consumer.Received.Select(r => r.Value).ToList();
            Assert.True(got.SequenceEqual(Enumerable.Range(0, Frames).Select(i => (long)i)),
                $"drone {drone} took [{string.Join(", ", got.Take(40))}...] ({got.Count} frames) through a relay that did {tamper}");
        }

        Assert.True(failed.IsEmpty, string.Join("\n", failed));
        Assert.Equal([1], a.ConnectedPeers);
    }

    /// <summary>
    /// A path that cuts the connection again and again while both drones send one-way frames and requests: every frame
    /// arrives once and in order, every request gets its own reply, and nobody is taken for failed.
    /// </summary>
    [Fact]
    public void Relay_CuttingTheConnectionAgainAndAgain_LosesNothing()
    {
        var options = LocalMesh.NewOptions();
        var consumers = new[] { new TestConsumer(), new TestConsumer() };
        using var a = new MeshNode(0, options, consumers[0]);
        using var b = new MeshNode(1, options, consumers[1]);
        var failed = new ConcurrentQueue<string>();
        var resumes = 0;
        foreach (var node in new[] { a, b })
        {
            node.PeerFailed += (peer, reason) => failed.Enqueue($"drone {node.Id} took drone {peer} for failed: {reason}");
            node.LinkResumed += _ => Interlocked.Increment(ref resumes);
        }

        // Cuts every connection after 40 to 140 frames toward drone 0, for the first 6 connections.
        using var relay = new TamperingRelay(a.ListenEndpoint, Tamper.Cut, towardAcceptor: true, afterFrames: 40, everyConnection: true, spread: 100, connections: 6);
        Form(a, b, relay.Endpoint);
        const int Frames = 3000;
        var payload = new byte[2048];
        var senders = new[] { a, b }.Select(node => new Thread(() =>
        {
            var peer = 1 - node.Id;
            for (long i = 0; i < Frames; i++)
            {
                node.Send(peer, TestConsumer.Numbered, i, static (ref MessagePackWriter w, long v) => w.Write(v));
                if (i % 10 == 0)
                {
                    var reply = node.Request(peer, TestConsumer.Echo, payload, static (ref MessagePackWriter w, byte[] p) => w.Write(p), Wait);
                    Assert.Equal(payload.Length, reply.BinaryBody().Length);
                }
            }
        })).ToList();
        senders.ForEach(t => t.Start());
        senders.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a sender did not finish within 60 s while the path was cut again and again"));
        consumers[0].WaitFor(Frames, Wait, "drone 0 taking drone 1's frames through a path cut again and again");
        consumers[1].WaitFor(Frames, Wait, "drone 1 taking drone 0's frames through a path cut again and again");
        foreach (var (consumer, drone) in new[] { (consumers[0], 0), (consumers[1], 1) })
        {
            var got = consumer.Received.Select(r => r.Value).ToList();
            var wrong = got.Select((v, i) => (v, i)).FirstOrDefault(p => p.v != p.i);
            Assert.True(got.Count == Frames && wrong == default, $"drone {drone} took {got.Count} frames; first out of place: #{wrong.i} = {wrong.v}");
        }

        Assert.True(failed.IsEmpty, string.Join("\n", failed));
        Assert.True(Volatile.Read(ref resumes) >= 2 * 3, $"only {resumes} resumptions for 6 cut connections");
    }

    /// <summary>A path that tampers with every connection cannot keep the link forever: after its breaks the link closes, with the reason.</summary>
    [Fact]
    public void Relay_TamperingWithEveryConnection_ClosesTheLinkForGood()
    {
        var options = LocalMesh.NewOptions();
        using var a = new MeshNode(0, options, new TestConsumer());
        using var b = new MeshNode(1, options, new TestConsumer());
        var failed = new BlockingCollection<(int Peer, string Reason)>();
        a.PeerFailed += (peer, reason) => failed.Add((peer, reason));
        using var relay = new TamperingRelay(a.ListenEndpoint, Tamper.Inject, towardAcceptor: true, afterFrames: 2 + 1, everyConnection: true);
        b.Connect(0, relay.Endpoint, Wait);
        using var sender = new CancellationTokenSource();
        var feeding = new Thread(() =>
        {
            for (long i = 0; !sender.IsCancellationRequested; i++)
            {
                try
                {
                    b.Send(0, TestConsumer.Numbered, i, static (ref MessagePackWriter w, long v) => w.Write(v));
                }
                catch (MeshException)
                {
                    return;
                }

                sender.Token.WaitHandle.WaitOne(5);
            }
        });
        feeding.Start();

        Assert.True(failed.TryTake(out var report, Wait), "drone 0 kept a link whose every connection was tampered with");
        sender.Cancel();
        Assert.True(feeding.Join(Wait), "the sender did not stop once the link closed");
        Assert.Equal(1, report.Peer);
        Assert.Contains("failed authentication", report.Reason, StringComparison.Ordinal);
    }

    /// <summary>Forms the mesh of two drones with drone 1 dialing drone 0 through <paramref name="path"/> (so drone 0 learns where drone 1 listens).</summary>
    private static void Form(MeshNode a, MeshNode b, IPEndPoint path)
    {
        var zero = new Thread(() => a.FormMesh(2, null, Wait));
        zero.Start();
        b.FormMesh(2, path, Wait);
        Assert.True(zero.Join(Wait), "drone 0 did not see the mesh formed within 20 s");
    }
}
