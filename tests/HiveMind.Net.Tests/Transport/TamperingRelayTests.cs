using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using HiveMind.Net.Codec;
using HiveMind.Net.Transport;

namespace HiveMind.Net.Tests.Transport;

/// <summary>
/// A relay on the path between two drones, without the key: it passes the handshake, then injects, replays, drops or
/// reorders frames of one direction. Every such change must close the link with a logged reason, and nothing it does
/// may reach the consumer.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class TamperingRelayTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    public enum Tamper
    {
        Inject,
        Replay,
        Drop,
        Reorder,
    }

    [Theory]
    [InlineData(Tamper.Inject)]
    [InlineData(Tamper.Replay)]
    [InlineData(Tamper.Drop)]
    [InlineData(Tamper.Reorder)]
    public void Relay_ChangingTheFramesOfALink_ClosesItWithTheReason(Tamper tamper)
    {
        var options = LocalMesh.NewOptions();
        var consumers = new[] { new TestConsumer(), new TestConsumer() };
        using var a = new MeshNode(0, options, consumers[0]);
        using var b = new MeshNode(1, options, consumers[1]);
        var failed = new BlockingCollection<(int Peer, string Reason)>();
        a.PeerFailed += (peer, reason) => failed.Add((peer, reason));
        using var relay = new Relay(a.ListenEndpoint, tamper, afterFrames: 2 + 5); // Hello and Proof, then 5 frames

        b.Connect(0, relay.Endpoint, Wait);
        for (long i = 0; i < 20; i++)
        {
            b.Send(0, TestConsumer.Numbered, i, static (ref MessagePackWriter w, long v) => w.Write(v));
        }

        Assert.True(failed.TryTake(out var report, Wait), $"drone 0 kept the link through a relay that did {tamper}");
        Assert.Equal(1, report.Peer);
        Assert.Contains("failed authentication", report.Reason, StringComparison.Ordinal);

        // What reached drone 0's consumer is the frames before the change, in order, and nothing of the relay's own.
        var got = consumers[0].Received.Select(r => r.Value).ToList();
        Assert.True(got.SequenceEqual(Enumerable.Range(0, got.Count).Select(i => (long)i)), $"drone 0 took [{string.Join(", ", got)}] through a relay that did {tamper}");
        Assert.True(got.Count <= 5, $"drone 0 took {got.Count} frames, past the {tamper} at the 6th");
    }

    /// <summary>Forwards both ways between a connector and the acceptor at <c>target</c>; changes the connector's frames from one on.</summary>
    private sealed class Relay : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly List<Socket> _sockets = [];

        public Relay(IPEndPoint target, Tamper tamper, int afterFrames)
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(1);
            Endpoint = (IPEndPoint)_listener.LocalEndPoint!;
            _ = Task.Run(() =>
            {
                try
                {
                    var connector = _listener.Accept();
                    var acceptor = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    acceptor.Connect(target);
                    lock (_sockets)
                    {
                        _sockets.Add(connector);
                        _sockets.Add(acceptor);
                    }

                    _ = Task.Run(() => Pipe(acceptor, connector, null, 0));
                    Pipe(connector, acceptor, tamper, afterFrames);
                }
                catch (Exception error) when (error is SocketException or ObjectDisposedException)
                {
                    // The test is over.
                }
            });
        }

        public IPEndPoint Endpoint { get; }

        public void Dispose()
        {
            _listener.Dispose();
            lock (_sockets)
            {
                _sockets.ForEach(s => s.Dispose());
            }
        }

        private static void Pipe(Socket from, Socket to, Tamper? tamper, int afterFrames)
        {
            try
            {
                var frames = 0;
                byte[]? held = null;
                byte[]? earlier = null;
                while (ReadFrame(from) is { } frame)
                {
                    frames++;
                    if (tamper is null || frames <= afterFrames)
                    {
                        earlier = frame;
                        to.Send(frame);
                        continue;
                    }

                    switch (tamper)
                    {
                        case Tamper.Inject:
                            var forged = new byte[frame.Length];
                            Random.Shared.NextBytes(forged);
                            BinaryPrimitives.WriteUInt32BigEndian(forged, (uint)(forged.Length - 4));
                            to.Send(forged);
                            to.Send(frame);
                            break;
                        case Tamper.Replay:
                            to.Send(earlier!);
                            to.Send(frame);
                            break;
                        case Tamper.Drop:
                            break; // this one never arrives; the next fails
                        case Tamper.Reorder when held is null:
                            held = frame;
                            break;
                        case Tamper.Reorder:
                            to.Send(frame);
                            to.Send(held!);
                            held = null;
                            break;
                    }

                    tamper = tamper == Tamper.Reorder && held is not null ? tamper : null; // one change, then plain relaying
                }
            }
            catch (Exception error) when (error is SocketException or ObjectDisposedException)
            {
                // A side closed.
            }
        }

        private static byte[]? ReadFrame(Socket socket)
        {
            var prefix = new byte[4];
            if (!ReadExactly(socket, prefix))
            {
                return null;
            }

            var frame = new byte[4 + BinaryPrimitives.ReadUInt32BigEndian(prefix)];
            prefix.CopyTo(frame, 0);
            return ReadExactly(socket, frame.AsSpan(4)) ? frame : null;
        }

        private static bool ReadExactly(Socket socket, Span<byte> buffer)
        {
            var read = 0;
            while (read < buffer.Length)
            {
                var n = socket.Receive(buffer[read..]);
                if (n == 0)
                {
                    return false;
                }

                read += n;
            }

            return true;
        }
    }
}
