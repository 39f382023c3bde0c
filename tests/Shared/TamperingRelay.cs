using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace HiveMind.Testing;

/// <summary>What a relay on the path does to the frames of a connection.</summary>
public enum Tamper
{
    Inject,
    Replay,
    Drop,
    Reorder,
    Cut,
}

/// <summary>
/// Forwards both ways between connectors and the acceptor at <c>target</c>, one connection of its own per connection it
/// takes; changes the frames of one direction from a frame on, on the first connection or on each.
/// </summary>
internal sealed class TamperingRelay : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _sockets = [];

    /// <param name="target">The acceptor.</param>
    /// <param name="tamper">The change, or the first of <paramref name="sequence"/>.</param>
    /// <param name="towardAcceptor">Which direction is changed.</param>
    /// <param name="afterFrames">Frames of that direction passed unchanged first (handshake frames count).</param>
    /// <param name="everyConnection">Whether every connection is changed, or only the first.</param>
    /// <param name="spread">Up to this many more frames passed first, at random, connection by connection.</param>
    /// <param name="connections">Connections changed at most; later ones are relayed as they are.</param>
    /// <param name="sequence">Changes taken in turn, connection by connection, instead of <paramref name="tamper"/> alone.</param>
    public TamperingRelay(
        IPEndPoint target, Tamper tamper, bool towardAcceptor, int afterFrames, bool everyConnection, int spread = 0, int connections = int.MaxValue, Tamper[]? sequence = null)
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Endpoint = (IPEndPoint)_listener.LocalEndPoint!;
        var random = new Random(7);
        _ = Task.Run(() =>
        {
            try
            {
                for (var n = 0; ; n++)
                {
                    var connector = _listener.Accept();
                    var acceptor = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    acceptor.Connect(target);
                    lock (_sockets)
                    {
                        _sockets.Add(connector);
                        _sockets.Add(acceptor);
                    }

                    Tamper? change = (n == 0 || everyConnection) && n < connections ? sequence is null ? tamper : sequence[n % sequence.Length] : null;
                    var after = afterFrames + (spread > 0 ? random.Next(spread) : 0);
                    var pair = new[] { connector, acceptor };
                    _ = Task.Run(() => Pipe(acceptor, connector, towardAcceptor ? null : change, after, pair));
                    _ = Task.Run(() => Pipe(connector, acceptor, towardAcceptor ? change : null, after, pair));
                }
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

    private static void Pipe(Socket from, Socket to, Tamper? tamper, int afterFrames, Socket[] pair)
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
                    case Tamper.Cut:
                        foreach (var socket in pair)
                        {
                            socket.Close(); // both ways, as a reset on the path would
                        }

                        return;
                }

                tamper = tamper == Tamper.Reorder && held is not null ? tamper : null; // one change, then plain relaying
            }
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException)
        {
            // A side closed.
        }
        finally
        {
            // A side that ends its connection ends it at the other side too, as a relay that forwards TCP does.
            foreach (var socket in pair)
            {
                socket.Close();
            }
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
