using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace HiveMind.Net.Transport;

/// <summary>
/// One authenticated TCP link to a peer: a receive thread with blocking reads of whole frames into a pooled
/// buffer, and a send thread that drains a bounded queue, urgent frames (heartbeats, replies) first, and
/// coalesces what it finds into one send call. A frame that finds the queue empty and nobody sending is
/// written by the calling thread itself, which saves a thread handoff on every request and reply.
/// </summary>
public sealed class Link
{
    private const int BatchBytes = 64 << 10;

    private readonly MeshNode _node;
    private readonly Socket _socket;
    private readonly int _sendQueueLimit;
    private readonly object _gate = new();
    private readonly Queue<FrameBuffer> _urgent = new();
    private readonly Queue<FrameBuffer> _bulk = new();
    private int _bulkBytes;
    private bool _sending;
    private int _closed;
    private long _lastHeard;
    private long _lastSent;
    private Thread? _receiver;
    private Thread? _sender;

    internal Link(MeshNode node, Socket socket, int peer, int sendQueueLimit)
    {
        _node = node;
        _socket = socket;
        _sendQueueLimit = sendQueueLimit;
        Peer = peer;
        _lastHeard = _lastSent = Environment.TickCount64;
    }

    /// <summary>The drone at the other end.</summary>
    public int Peer { get; }

    /// <summary>Messages and bytes by kind.</summary>
    public LinkCounters Counters { get; } = new();

    /// <summary>False once the link is closed; it never opens again.</summary>
    public bool IsOpen => Volatile.Read(ref _closed) == 0;

    /// <summary>Why the link closed, or null while it is open.</summary>
    public string? CloseReason { get; private set; }

    internal long LastHeard => Volatile.Read(ref _lastHeard);

    internal long LastSent => Volatile.Read(ref _lastSent);

    internal void Start()
    {
        _receiver = new Thread(ReceiveLoop) { IsBackground = true, Name = $"hivemind {_node.Id}<-{Peer} receive" };
        _sender = new Thread(SendLoop) { IsBackground = true, Name = $"hivemind {_node.Id}->{Peer} send" };
        _receiver.Start();
        _sender.Start();
    }

    /// <summary>
    /// Queues a sealed frame. Urgent frames skip the queue limit and go before bulk ones; a bulk frame waits
    /// while the queue holds more than the limit. With <paramref name="inline"/>, a frame that finds the link
    /// idle is written by the calling thread (latency); without, it always goes through the send loop, which
    /// coalesces a stream of frames into large writes (throughput). Returns false (and recycles the frame) if
    /// the link is closed.
    /// </summary>
    internal bool Enqueue(FrameBuffer frame, bool urgent, bool inline = true)
    {
        lock (_gate)
        {
            while (!urgent && _bulkBytes > _sendQueueLimit && IsOpen)
            {
                Monitor.Wait(_gate);
            }

            if (!IsOpen)
            {
                frame.Return();
                return false;
            }

            if (!inline || _sending || _urgent.Count > 0 || _bulk.Count > 0)
            {
                if (urgent)
                {
                    _urgent.Enqueue(frame);
                }
                else
                {
                    _bulk.Enqueue(frame);
                    _bulkBytes += frame.Length;
                }

                Monitor.PulseAll(_gate);
                return true;
            }

            // Nothing queued and nobody on the socket: this thread sends, and the loop keeps off meanwhile.
            _sending = true;
        }

        try
        {
            SendAll(frame.Span);
            Volatile.Write(ref _lastSent, Environment.TickCount64);
            Counters.CountSent(frame.Kind, frame.Length);
            return true;
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException)
        {
            Close(IsOpen ? $"send failed: {error.Message}" : "closed");
            return false;
        }
        finally
        {
            frame.Return();
            lock (_gate)
            {
                _sending = false;
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>Closes the link once, for <paramref name="reason"/>; the node reports it and fails its requests.</summary>
    internal void Close(string reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        CloseReason = reason;
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already reset by the peer: closing below is all that is left to do.
        }
        catch (ObjectDisposedException)
        {
            // Closed already.
        }

        _socket.Close();
        lock (_gate)
        {
            foreach (var frame in _urgent.Concat(_bulk))
            {
                frame.Return();
            }

            _urgent.Clear();
            _bulk.Clear();
            _bulkBytes = 0;
            Monitor.PulseAll(_gate);
        }

        _node.OnLinkClosed(this, reason);
    }

    /// <summary>Waits for both loops to end (after <see cref="Close"/>).</summary>
    internal void Join(TimeSpan timeout)
    {
        if (_receiver is not null && _receiver != Thread.CurrentThread)
        {
            _receiver.Join(timeout);
        }

        if (_sender is not null && _sender != Thread.CurrentThread)
        {
            _sender.Join(timeout);
        }
    }

    private void ReceiveLoop()
    {
        // Reads whatever the socket has into one pooled buffer and hands out every complete frame in it, so a
        // burst of small frames costs one receive call, not two per frame.
        var buffer = ArrayPool<byte>.Shared.Rent(BatchBytes);
        int start = 0, end = 0;
        try
        {
            while (IsOpen)
            {
                while (end - start >= FrameBuffer.PrefixBytes)
                {
                    var length = BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(start));
                    if (length == 0 || length > (uint)_node.Options.MaxFrameBytes)
                    {
                        throw new InvalidDataException($"frame length {length} is outside 1..{_node.Options.MaxFrameBytes}");
                    }

                    var total = FrameBuffer.PrefixBytes + (int)length;
                    if (end - start < total)
                    {
                        if (total > buffer.Length)
                        {
                            // Validated above: grow to hold this frame, keeping the bytes already read.
                            var larger = ArrayPool<byte>.Shared.Rent(total);
                            buffer.AsSpan(start, end - start).CopyTo(larger);
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = larger;
                            end -= start;
                            start = 0;
                        }

                        break;
                    }

                    _node.Dispatch(this, buffer.AsSpan(start + FrameBuffer.PrefixBytes, (int)length));
                    start += total;
                }

                if (start == end)
                {
                    start = end = 0;
                }
                else if (buffer.Length - end < FrameBuffer.PrefixBytes || (start > 0 && buffer.Length - end < BatchBytes / 4))
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }

                var received = _socket.Receive(buffer.AsSpan(end));
                if (received == 0)
                {
                    Close(end == start ? "the peer closed the connection" : $"the peer closed the connection inside a frame ({end - start} bytes)");
                    return;
                }

                end += received;

                // Any bytes count as a sign of life, so a large frame in transit never looks like silence.
                Volatile.Write(ref _lastHeard, Environment.TickCount64);
            }
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException or InvalidDataException)
        {
            Close(IsOpen ? $"receive failed: {error.Message}" : "closed");
        }
        catch (Exception error)
        {
            // Nothing a peer sends may take the drone down: any other failure closes just this link.
            Close($"frame handling failed: {error.GetType().Name}: {error.Message}");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void SendLoop()
    {
        var batch = new byte[BatchBytes];
        var taken = new List<FrameBuffer>();
        try
        {
            while (true)
            {
                lock (_gate)
                {
                    while ((_sending || (_urgent.Count == 0 && _bulk.Count == 0)) && IsOpen)
                    {
                        Monitor.Wait(_gate);
                    }

                    if (!IsOpen)
                    {
                        return;
                    }

                    // Urgent frames first, then bulk ones up to one batch (or one large frame).
                    var bytes = 0;
                    while (_urgent.TryDequeue(out var frame))
                    {
                        taken.Add(frame);
                        bytes += frame.Length;
                    }

                    while (_bulk.TryPeek(out var frame) && (bytes == 0 || bytes + frame.Length <= BatchBytes))
                    {
                        _bulk.Dequeue();
                        _bulkBytes -= frame.Length;
                        taken.Add(frame);
                        bytes += frame.Length;
                    }

                    _sending = true;
                    Monitor.PulseAll(_gate);
                }

                Write(taken, batch);
                Volatile.Write(ref _lastSent, Environment.TickCount64);
                foreach (var frame in taken)
                {
                    Counters.CountSent(frame.Kind, frame.Length);
                    frame.Return();
                }

                taken.Clear();
                lock (_gate)
                {
                    _sending = false;
                    Monitor.PulseAll(_gate);
                }
            }
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException)
        {
            foreach (var frame in taken)
            {
                frame.Return();
            }

            Close(IsOpen ? $"send failed: {error.Message}" : "closed");
        }
    }

    private void Write(List<FrameBuffer> frames, byte[] batch)
    {
        var used = 0;
        foreach (var frame in frames)
        {
            if (frame.Length > batch.Length - used)
            {
                if (used > 0)
                {
                    SendAll(batch.AsSpan(0, used));
                    used = 0;
                }

                if (frame.Length > batch.Length)
                {
                    SendAll(frame.Span);
                    continue;
                }
            }

            frame.Span.CopyTo(batch.AsSpan(used));
            used += frame.Length;
        }

        if (used > 0)
        {
            SendAll(batch.AsSpan(0, used));
        }
    }

    private void SendAll(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            bytes = bytes[_socket.Send(bytes)..];
        }
    }
}
