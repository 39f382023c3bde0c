using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace HiveMind.Net.Transport;

/// <summary>
/// One authenticated TCP link to a peer: a receive thread that reads whole frames into a pooled buffer and hands them
/// to the node, and a send thread that owns the writing side. Every write is one that never waits (send with
/// MSG_DONTWAIT, see <see cref="SocketSend"/>, or a non-blocking socket where the platform lacks it). The receive thread never
/// waits on the network or on another drone: what it sends is queued (or written at once when the link is idle and
/// the socket takes it whole), and replies to the peer's requests are made by the send side as the socket drains, so
/// that two drones serving each other's large replies at once both keep reading.
/// </summary>
/// <remarks>
/// The send side drains, in order: the rest of a frame a caller could write only in part, urgent frames (heartbeats,
/// error replies), replies to be made (<see cref="Serve"/>), then bulk frames (one-way messages and requests, coalesced
/// into large writes). Bulk frames from threads that may wait (an application thread) wait while the queue holds more
/// than its limit (back-pressure); the node's own threads never wait, and a queue that grows past a hard limit closes
/// the link. A write that makes no progress for the failure timeout closes the link: a live peer always reads.
/// </remarks>
public sealed class Link
{
    private const int BatchBytes = 64 << 10;

    // Requests of the peer waiting for their replies; more is a peer that does not wait for its replies.
    private const int MaxPendingReplies = 4096;

    // Threads of the mesh itself (receive, send, heartbeat, accept): they must never wait for queue space.
    [ThreadStatic]
    private static bool _meshThread;

    private readonly MeshNode _node;
    private readonly Socket _socket;
    private readonly LinkCipher? _cipher;
    private readonly int _sendQueueLimit;
    private readonly long _sendQueueHardLimit;
    private readonly long _stallMilliseconds;
    private readonly object _gate = new();
    private readonly Queue<FrameBuffer> _urgent = new();
    private readonly Queue<FrameBuffer> _bulk = new();
    private readonly Queue<Func<FrameBuffer?>> _replies = new();
    private FrameBuffer? _partial;
    private int _partialSent;
    private long _bulkBytes;
    private bool _sending;
    private string? _closeWhenFlushed;
    private int _closed;
    private long _lastHeard;
    private long _lastSent;
    private volatile bool _receiveBusy;
    private Thread? _receiver;
    private Thread? _sender;

    internal Link(MeshNode node, Socket socket, int peer, int sendQueueLimit, LinkCipher? cipher)
    {
        _node = node;
        _socket = socket;
        _cipher = cipher;
        _sendQueueLimit = sendQueueLimit;
        _sendQueueHardLimit = Math.Max(16L * sendQueueLimit, 2L * node.Options.MaxFrameBytes);
        _stallMilliseconds = (long)node.Options.SendStallTimeout.TotalMilliseconds;
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

    /// <summary>Consecutive heartbeat checks that found the peer silent past the failure timeout (the heartbeat thread's own).</summary>
    internal int SilentChecks { get; set; }

    /// <summary>Failure timeouts of the current silence already reported (the heartbeat thread's own).</summary>
    internal long SilenceReported { get; set; }

    /// <summary>
    /// Whether the peer may have spoken without this side having looked: the receive thread is handling frames, or
    /// bytes wait unread in the socket. Silence is measured only while neither holds, so a busy receive loop never
    /// makes a live peer look dead.
    /// </summary>
    internal bool MayHaveUnreadNews
    {
        get
        {
            if (_receiveBusy)
            {
                return true;
            }

            try
            {
                return _socket.Available > 0;
            }
            catch (Exception error) when (error is SocketException or ObjectDisposedException)
            {
                return false;
            }
        }
    }

    /// <summary>Whether the calling thread is one of the mesh's own, which must never wait for queue space.</summary>
    public static bool OnMeshThread => _meshThread;

    /// <summary>Marks the calling thread as one of the mesh's own (see <see cref="OnMeshThread"/>).</summary>
    internal static void MarkMeshThread() => _meshThread = true;

    internal void Start()
    {
        // Writes never block a thread: they wait in Poll, with a deadline. Reads block in receive where sends can be
        // made not to wait on a blocking socket; elsewhere the socket is non-blocking and reads wait in Poll too.
        _socket.Blocking = SocketSend.Supported;
        // Each thread is published once started: a Dispose on another thread joins only threads that run.
        var receiver = new Thread(ReceiveLoop) { IsBackground = true, Name = $"hivemind {_node.Id}<-{Peer} receive" };
        var sender = new Thread(SendLoop) { IsBackground = true, Name = $"hivemind {_node.Id}->{Peer} send" };
        receiver.Start();
        Volatile.Write(ref _receiver, receiver);
        sender.Start();
        Volatile.Write(ref _sender, sender);
    }

    /// <summary>
    /// Queues a sealed frame. Urgent frames skip the queue limit and go before bulk ones. A bulk frame from a thread
    /// that may wait waits while the queue holds more than the limit; from one of the mesh's threads it never waits.
    /// With <paramref name="inline"/>, a frame that finds the link idle is written by the calling thread as far as the
    /// socket takes it without blocking (the send thread writes the rest): a lone request or reply saves a thread
    /// hand-off. Without, it always goes through the send thread, which coalesces a stream of frames into large
    /// writes. Returns false (and recycles the frame) if the link is closed.
    /// </summary>
    internal bool Enqueue(FrameBuffer frame, bool urgent, bool inline = true)
    {
        string? overflow = null;
        lock (_gate)
        {
            while (!urgent && _bulkBytes > _sendQueueLimit && IsOpen && !_meshThread)
            {
                Monitor.Wait(_gate);
            }

            if (!IsOpen)
            {
                frame.Return();
                return false;
            }

            if (!urgent && _bulkBytes + frame.Length > _sendQueueHardLimit)
            {
                overflow = $"send queue over {_sendQueueHardLimit} bytes: the peer does not read";
            }
            else if (!inline || IsBusy)
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
            else
            {
                // Nothing queued and nobody on the socket: this thread writes, and the send loop keeps off meanwhile.
                _sending = true;
            }
        }

        if (overflow is not null)
        {
            frame.Return();
            Close(overflow);
            return false;
        }

        WriteWithoutWaiting(frame);
        return true;
    }

    /// <summary>
    /// Answers one of the peer's requests: <paramref name="produce"/> makes the reply frame when the send side gets to
    /// it (at once, on the calling thread, when the link is idle), so replies are made only as fast as the peer reads
    /// them. It returns null when the reply cannot be made yet; whoever holds the request then serves it again later.
    /// <paramref name="tooMany"/> makes the refusal sent instead when the peer has too many requests waiting.
    /// </summary>
    internal void Serve(Func<FrameBuffer?> produce, Func<FrameBuffer> tooMany)
    {
        lock (_gate)
        {
            if (!IsOpen)
            {
                return;
            }

            if (_replies.Count >= MaxPendingReplies)
            {
                _urgent.Enqueue(tooMany());
                Monitor.PulseAll(_gate);
                return;
            }

            if (IsBusy)
            {
                _replies.Enqueue(produce);
                Monitor.PulseAll(_gate);
                return;
            }

            _sending = true;
        }

        FrameBuffer? frame;
        try
        {
            frame = produce();
        }
        catch
        {
            ReleaseSocket();
            throw;
        }

        if (frame is null)
        {
            ReleaseSocket();
            return;
        }

        WriteWithoutWaiting(frame);
    }

    /// <summary>
    /// Closes the link for <paramref name="reason"/> as soon as what is queued has gone out (the news of a peer's removal,
    /// say), or after <paramref name="within"/> at the latest.
    /// </summary>
    internal void CloseWhenFlushed(string reason, TimeSpan within)
    {
        lock (_gate)
        {
            _closeWhenFlushed = reason;
            if (IsBusy)
            {
                _ = Task.Delay(within).ContinueWith(_ => Close(reason), TaskScheduler.Default);
                return;
            }
        }

        Close(reason);
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

            _partial?.Return();
            _partial = null;

            _urgent.Clear();
            _bulk.Clear();
            _replies.Clear();
            _bulkBytes = 0;
            Monitor.PulseAll(_gate);
        }

        _cipher?.Dispose();
        _node.OnLinkClosed(this, reason);
    }

    /// <summary>Waits for both loops to end (after <see cref="Close"/>).</summary>
    internal void Join(TimeSpan timeout)
    {
        if (Volatile.Read(ref _receiver) is { } receiver && receiver != Thread.CurrentThread)
        {
            receiver.Join(timeout);
        }

        if (Volatile.Read(ref _sender) is { } sender && sender != Thread.CurrentThread)
        {
            sender.Join(timeout);
        }
    }

    // Caller holds _gate.
    private bool IsBusy => _sending || _partial is not null || _urgent.Count > 0 || _replies.Count > 0 || _bulk.Count > 0;

    private void ReleaseSocket()
    {
        string? close;
        lock (_gate)
        {
            _sending = false;
            WakeIfQueued();
            close = IsBusy ? null : _closeWhenFlushed;
        }

        if (close is not null)
        {
            Close(close);
        }
    }

    /// <summary>
    /// Wakes the send loop when something waits to be sent; without, nobody needs waking (back-pressure waiters wait
    /// for the bulk queue to shrink, which only the send loop and Close do), and a lone request or reply costs no
    /// wake-up of the send thread. Caller holds <see cref="_gate"/>.
    /// </summary>
    private void WakeIfQueued()
    {
        if (_partial is not null || _urgent.Count > 0 || _replies.Count > 0 || _bulk.Count > 0)
        {
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Writes what the socket takes of <paramref name="frame"/> now (the caller owns the socket); the send thread writes the rest.</summary>
    private void WriteWithoutWaiting(FrameBuffer frame)
    {
        int sent;
        try
        {
            Protect(frame);
            sent = SendNow(frame.Span);
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException)
        {
            frame.Return();
            ReleaseSocket();
            Close(IsOpen ? $"send failed: {error.Message}" : "closed");
            return;
        }

        lock (_gate)
        {
            if (sent == frame.Length)
            {
                Counters.CountSent(frame.Kind, frame.Length);
                frame.Return();
            }
            else if (IsOpen)
            {
                _partial = frame;
                _partialSent = sent;
            }
            else
            {
                frame.Return();
            }
        }

        ReleaseSocket();
    }

    /// <summary>Writes as much of <paramref name="bytes"/> as the socket takes without blocking; returns the bytes written.</summary>
    private int SendNow(ReadOnlySpan<byte> bytes)
    {
        var sent = 0;
        while (sent < bytes.Length)
        {
            int n;
            if (SocketSend.Supported)
            {
                n = SocketSend.TrySend(_socket, bytes[sent..]);
            }
            else
            {
                n = _socket.Send(bytes[sent..], SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock)
                {
                    n = 0;
                }
                else if (error != SocketError.Success)
                {
                    throw new SocketException((int)error);
                }
            }

            if (n == 0)
            {
                break;
            }

            sent += n;
            Volatile.Write(ref _lastSent, Environment.TickCount64);
        }

        return sent;
    }

    /// <summary>Writes all of <paramref name="bytes"/>, waiting in Poll while the socket is full; closes the link when nothing moves for the failure timeout.</summary>
    private void SendAll(ReadOnlySpan<byte> bytes)
    {
        var progress = Environment.TickCount64;
        while (!bytes.IsEmpty)
        {
            var n = SendNow(bytes);
            if (n > 0)
            {
                bytes = bytes[n..];
                progress = Environment.TickCount64;
                continue;
            }

            var stalled = Environment.TickCount64 - progress;
            if (stalled >= _stallMilliseconds)
            {
                throw new SendStalledException($"send stalled: the peer read nothing for {stalled} ms (limit {_stallMilliseconds} ms)");
            }

            if (!IsOpen)
            {
                throw new ObjectDisposedException(nameof(Link));
            }

            _socket.Poll((int)Math.Min(_stallMilliseconds - stalled, 250) * 1000, SelectMode.SelectWrite);
        }
    }

    private void ReceiveLoop()
    {
        MarkMeshThread();

        // Reads whatever the socket has into one pooled buffer and hands out every complete frame in it, so a burst of
        // small frames costs one receive call. A frame larger than the buffer grows it as its bytes arrive (never by
        // its length prefix alone, so a prefix costs nothing until the bytes behind it come).
        var buffer = ArrayPool<byte>.Shared.Rent(BatchBytes);
        int start = 0, end = 0;
        try
        {
            while (IsOpen)
            {
                _receiveBusy = true;
                while (end - start >= FrameBuffer.PrefixBytes)
                {
                    var length = BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(start));
                    var limit = _node.Options.MaxFrameBytes + (_cipher is null ? 0 : LinkCipher.TagBytes);
                    if (length == 0 || length > (uint)limit)
                    {
                        throw new InvalidDataException($"frame length {length} is outside 1..{limit}");
                    }

                    var total = FrameBuffer.PrefixBytes + (int)length;
                    if (end - start < total)
                    {
                        break;
                    }

                    var body = buffer.AsSpan(start + FrameBuffer.PrefixBytes, (int)length);
                    if (_cipher is not null)
                    {
                        var plain = _cipher.Open(buffer.AsSpan(start, FrameBuffer.PrefixBytes), body);
                        if (plain < 0)
                        {
                            throw new InvalidDataException("a frame failed authentication: tampered with, injected, replayed, reordered or dropped on the way");
                        }

                        body = body[..plain];
                    }

                    _node.Dispatch(this, body, total);
                    start += total;
                }

                if (start == end)
                {
                    start = end = 0;
                    if (buffer.Length > 4 * BatchBytes)
                    {
                        // A large frame has passed: give its buffer back.
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = ArrayPool<byte>.Shared.Rent(BatchBytes);
                    }
                }
                else if (start > 0 && (end == buffer.Length || buffer.Length - end < BatchBytes / 4))
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }

                if (end == buffer.Length)
                {
                    // A frame larger than the buffer, all of it read so far: double the buffer, up to the frame.
                    var needed = FrameBuffer.PrefixBytes + (int)BinaryPrimitives.ReadUInt32BigEndian(buffer);
                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(needed, 2 * buffer.Length));
                    buffer.AsSpan(0, end).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                _receiveBusy = false;
                var received = _socket.Receive(buffer.AsSpan(end), SocketFlags.None, out var error);
                _receiveBusy = true; // what it drained from the socket is news the silence check must not miss
                if (error == SocketError.WouldBlock)
                {
                    _receiveBusy = false;
                    _socket.Poll(250_000, SelectMode.SelectRead);
                    continue;
                }

                if (error != SocketError.Success)
                {
                    throw new SocketException((int)error);
                }

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
            _receiveBusy = false;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void SendLoop()
    {
        MarkMeshThread();
        var batch = new byte[BatchBytes];
        var taken = new List<FrameBuffer>();
        try
        {
            while (true)
            {
                Func<FrameBuffer?>? produce = null;
                FrameBuffer? partial = null;
                var partialSent = 0;
                lock (_gate)
                {
                    while (IsOpen && (_sending || !(_partial is not null || _urgent.Count > 0 || _replies.Count > 0 || _bulk.Count > 0)))
                    {
                        Monitor.Wait(_gate);
                    }

                    if (!IsOpen)
                    {
                        return;
                    }

                    _sending = true;
                    if (_partial is not null)
                    {
                        (partial, partialSent) = (_partial, _partialSent);
                        _partial = null;
                    }
                    else if (_urgent.Count > 0)
                    {
                        while (_urgent.TryDequeue(out var frame))
                        {
                            taken.Add(frame);
                        }
                    }
                    else if (_replies.TryDequeue(out var next))
                    {
                        produce = next;
                    }
                    else
                    {
                        var bytes = 0;
                        while (_bulk.TryPeek(out var frame) && (bytes == 0 || bytes + frame.Length <= BatchBytes))
                        {
                            _bulk.Dequeue();
                            _bulkBytes -= frame.Length;
                            taken.Add(frame);
                            bytes += frame.Length;
                        }
                    }

                    Monitor.PulseAll(_gate);
                }

                if (partial is not null)
                {
                    taken.Add(partial);
                    SendAll(partial.Span[partialSent..]);
                }
                else if (produce is not null)
                {
                    if (produce() is { } reply)
                    {
                        taken.Add(reply);
                        Protect(reply);
                        SendAll(reply.Span);
                    }
                }
                else
                {
                    Write(taken, batch);
                }

                foreach (var frame in taken)
                {
                    Counters.CountSent(frame.Kind, frame.Length);
                    frame.Return();
                }

                taken.Clear();
                ReleaseSocket();
            }
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException or SendStalledException)
        {
            foreach (var frame in taken)
            {
                frame.Return();
            }

            Close(IsOpen ? error is SendStalledException ? error.Message : $"send failed: {error.Message}" : "closed");
        }
    }

    private void Write(List<FrameBuffer> frames, byte[] batch)
    {
        var used = 0;
        foreach (var frame in frames)
        {
            Protect(frame);
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

    /// <summary>Seals a frame as it goes out (in the order frames reach the socket, which is the order the peer counts them).</summary>
    private void Protect(FrameBuffer frame)
    {
        if (_cipher is not null)
        {
            frame.Protect(_cipher);
        }
    }

    private sealed class SendStalledException(string message) : Exception(message);
}
