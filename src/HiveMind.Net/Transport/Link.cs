using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using HiveMind.Net.Codec;
using MessagePack;

namespace HiveMind.Net.Transport;

/// <summary>
/// One authenticated link to a peer, which outlives the TCP connections under it: a connection that breaks (reset, end
/// of stream, a frame that fails authentication) is replaced by a new one, and every frame the peer had not yet taken
/// is sent again, so that nothing is lost, doubled or reordered across the break. Each connection has a receive thread
/// that reads whole frames into a pooled buffer and hands them to the node, and a send thread that owns the writing
/// side. Every write is one that never waits (send with MSG_DONTWAIT, see <see cref="SocketSend"/>, or a non-blocking
/// socket where the platform lacks it). The receive thread never waits on the network or on another drone: what it
/// sends is queued (or written at once when the link is idle and the socket takes it whole), and replies to the peer's
/// requests are made by the send side as the socket drains, so that two drones serving each other's large replies at
/// once both keep reading.
/// </summary>
/// <remarks>
/// <para>
/// The send side drains, in order: the Resume frame that opens each connection, the rest of a frame a caller could
/// write only in part, frames owed from before a break, urgent frames (heartbeats, error replies), replies to be made
/// (<see cref="Serve"/>), then bulk frames (one-way messages and requests, coalesced into large writes). Bulk frames
/// from threads that may wait (an application thread) wait while the queue holds more than its limit
/// (back-pressure); the node's own threads never wait, and a queue that grows past a hard limit closes the link. A
/// write that makes no progress for the stall limit closes the link: a live peer always reads.
/// </para>
/// <para>
/// Sequence: every frame but heartbeats and Resume frames is numbered (1, 2, ... for the life of the link, in the
/// order it goes out) and kept until the peer acknowledges it; heartbeats carry the count of frames taken (in the
/// request-id field), and a receiver that takes many frames acknowledges them without waiting for the next heartbeat.
/// Each connection opens, both ways, with a Resume frame: [the number of the next frame this side sends], with the
/// frames it has taken in the request-id field. A frame whose number was taken already is skipped; a gap is a peer
/// that does not follow the protocol, and closes the link.
/// </para>
/// <para>
/// Locks: <c>_gate</c> guards the queues, the kept frames and the socket's writing turn (<c>_holder</c>: the
/// connection whose thread writes now); <c>_deliver</c> makes frames reach the node one at a time and in order, even
/// while a connection that was just replaced still finishes its last frame.
/// </para>
/// </remarks>
internal sealed class Link
{
    private const int BatchBytes = 64 << 10;

    // Requests of the peer waiting for their replies; more is a peer that does not wait for its replies.
    private const int MaxPendingReplies = 4096;

    // A receiver acknowledges at least every this many frames or bytes taken, without waiting for a heartbeat.
    private const int AckEveryFrames = 64;
    private const long AckEveryBytes = 256 << 10;

    // Breaks a link may have within ten failure timeouts before it closes for good.
    private const int MaxBreaks = 8;

    // Threads of the mesh itself (receive, send, heartbeat, accept): they must never wait for queue space.
    [ThreadStatic]
    private static bool _meshThread;

    private readonly MeshNode _node;
    private readonly int _sendQueueLimit;
    private readonly long _sendQueueHardLimit;
    private readonly long _stallMilliseconds;
    private readonly object _gate = new();
    private readonly object _deliver = new();
    private readonly Queue<FrameBuffer> _urgent = new();
    private readonly Queue<FrameBuffer> _bulk = new();
    private readonly Queue<Func<FrameBuffer?>> _replies = new();
    private readonly KeptFrames _kept = new();
    private readonly Queue<long> _breaks = new();
    private Connection? _current;
    private Connection? _latest;
    private Connection? _holder;
    private PartialWrite? _partial;
    private long _bulkBytes;
    private ulong _sentSeq;
    private ulong _nextToWire = 1;
    private ulong _peerAcked;
    private ulong _received;
    private ulong _ackSent;
    private long _bytesSinceAck;
    private long _ackSentAt;
    private bool _peerSpoke;
    private string? _closeWhenFlushed;
    private int _closed;
    private long _lastHeard;
    private long _lastSent;

    internal Link(MeshNode node, int peer, int sendQueueLimit, byte[] resumeKey)
    {
        _node = node;
        _sendQueueLimit = sendQueueLimit;
        _sendQueueHardLimit = Math.Max(16L * sendQueueLimit, 2L * node.Options.MaxFrameBytes);
        _stallMilliseconds = (long)node.Options.SendStallTimeout.TotalMilliseconds;
        ResumeKey = resumeKey;
        Peer = peer;
        _lastHeard = _lastSent = _ackSentAt = Environment.TickCount64;
    }

    /// <summary>The drone at the other end.</summary>
    public int Peer { get; }

    /// <summary>Messages and bytes by kind.</summary>
    public LinkCounters Counters { get; } = new();

    /// <summary>False once the link is closed for good; it never opens again. A link whose connection broke and is being re-established is open.</summary>
    public bool IsOpen => Volatile.Read(ref _closed) == 0;

    /// <summary>Whether a connection carries the link now (false while a broken one is being replaced).</summary>
    public bool IsConnected => Volatile.Read(ref _current) is not null && IsOpen;

    /// <summary>Why the link closed, or null while it is open.</summary>
    public string? CloseReason { get; private set; }

    /// <summary>Connections that replaced a broken one.</summary>
    public int Resumes { get; private set; }

    /// <summary>The secret a new connection proves to carry on this link (from its first handshake).</summary>
    internal byte[] ResumeKey { get; private set; }

    /// <summary>Whether the peer has spoken on the link (its Resume frame came): until then a new link from it may take this one's place.</summary>
    internal bool PeerSpoke
    {
        get
        {
            lock (_deliver)
            {
                return _peerSpoke;
            }
        }
    }

    internal long LastHeard => Volatile.Read(ref _lastHeard);

    internal long LastSent => Volatile.Read(ref _lastSent);

    /// <summary>Frames of the peer taken so far (what a heartbeat acknowledges).</summary>
    internal ulong Received => Volatile.Read(ref _received);

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
            if (Volatile.Read(ref _current) is not { } connection)
            {
                return false;
            }

            if (connection.ReceiveBusy)
            {
                return true;
            }

            try
            {
                return connection.Socket.Available > 0;
            }
            catch (Exception error) when (error is SocketException or ObjectDisposedException)
            {
                return false;
            }
        }
    }

    /// <summary>Whether frames were taken since the last acknowledgement was sent, and it is older than <paramref name="milliseconds"/>.</summary>
    internal bool OwesAck(long milliseconds) =>
        Received != Volatile.Read(ref _ackSent) && Environment.TickCount64 - Volatile.Read(ref _ackSentAt) >= milliseconds;

    /// <summary>
    /// Claims the right to dial a new connection beside the current one (after a silence): true at most once per
    /// <paramref name="intervalMs"/>.
    /// </summary>
    internal bool TryStartRedial(long intervalMs)
    {
        var now = Environment.TickCount64;
        var last = Volatile.Read(ref _lastRedial);
        return now - last >= intervalMs && Interlocked.CompareExchange(ref _lastRedial, now, last) == last;
    }

    private long _lastRedial = long.MinValue / 2;

    // Heartbeats in the urgent queue (guarded by _gate; read without it to skip a redundant one).
    private int _heartbeatsQueued;

    /// <summary>Whether the calling thread is one of the mesh's own, which must never wait for queue space.</summary>
    public static bool OnMeshThread => _meshThread;

    /// <summary>
    /// Marks the calling thread as one of the mesh's own (see <see cref="OnMeshThread"/>) and gives it the mesh's nice
    /// value (<see cref="MeshOptions.NetworkThreadNice"/>). Returns the errno of a refusal, as <see cref="NetworkThreads.Prioritize"/>.
    /// </summary>
    internal static int MarkMeshThread(int nice)
    {
        _meshThread = true;
        return NetworkThreads.Prioritize(nice);
    }

    /// <summary>
    /// Puts <paramref name="socket"/> (handshaken, with <paramref name="cipher"/>) under the link: its first connection,
    /// or one that replaces a connection that broke (or that the peer found broken before this side did). Returns false,
    /// and disposes both, when the link is closed.
    /// </summary>
    /// <param name="socket">The handshaken connection.</param>
    /// <param name="cipher">Its cipher, or null for clear frames.</param>
    /// <param name="answer">
    /// The acceptor's last word to the connector, written once the connection is the link's and before the one it
    /// replaces is retired (so that the connector, which retires its own old connection on this answer, cannot be
    /// taken here for a break of the link).
    /// </param>
    /// <param name="resumeKey">For a link whose peer never spoke on it (the connector started anew): the new link's key.</param>
    internal bool Attach(Socket socket, LinkCipher? cipher, Action? answer = null, byte[]? resumeKey = null)
    {
        Connection? retired;
        Connection connection;

        // Writes never block a thread: they wait in Poll, with a deadline. Reads block in receive where sends can be
        // made not to wait on a blocking socket; elsewhere the socket is non-blocking and reads wait in Poll too.
        socket.Blocking = SocketSend.Supported;
        lock (_gate)
        {
            if (!IsOpen)
            {
                socket.Dispose();
                cipher?.Dispose();
                return false;
            }

            if (resumeKey is not null)
            {
                if (_peerSpoke)
                {
                    socket.Dispose();
                    cipher?.Dispose();
                    return false;
                }

                ResumeKey = resumeKey;
            }

            retired = _current;
            if (_latest is not null)
            {
                Resumes++;
            }

            connection = new Connection(socket, cipher);
            _current = _latest = connection;
            _holder = null; // a thread still writing on the retired connection gives up its turn when it notices
            ReturnPartial();
            _nextToWire = _kept.FirstSeq(_sentSeq);
            if (retired is null)
            {
                // After a break the silence starts again with the new connection; a connection dialed beside a live
                // one (after a silence) does not end the silence until the peer speaks on it.
                Volatile.Write(ref _lastHeard, Environment.TickCount64);
            }

            Monitor.PulseAll(_gate);
            try
            {
                answer?.Invoke();
            }
            catch (Exception error) when (error is SocketException or ObjectDisposedException)
            {
                // The connector is gone already: the new connection breaks at once, and is replaced in turn.
            }
        }

        retired?.Retire();
        var receiver = new Thread(() => ReceiveLoop(connection)) { IsBackground = true, Name = $"hivemind {_node.Id}<-{Peer} receive" };
        var sender = new Thread(() => SendLoop(connection)) { IsBackground = true, Name = $"hivemind {_node.Id}->{Peer} send" };
        connection.Receiver = receiver;
        connection.Sender = sender;
        receiver.Start();
        sender.Start();
        return true;
    }

    /// <summary>Waits until a connection carries the link, the link closes, or <paramref name="timeout"/> passes; true when connected.</summary>
    internal bool WaitConnected(TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_gate)
        {
            while (_current is null && IsOpen)
            {
                var left = deadline - Environment.TickCount64;
                if (left <= 0)
                {
                    return false;
                }

                Monitor.Wait(_gate, (int)Math.Min(left, int.MaxValue));
            }

            return _current is not null;
        }
    }

    /// <summary>
    /// Queues a frame. Urgent frames skip the queue limit and go before bulk ones. A bulk frame from a thread
    /// that may wait waits while the queue holds more than the limit; from one of the mesh's threads it never waits.
    /// With <paramref name="inline"/>, a frame that finds the link idle is written by the calling thread as far as the
    /// socket takes it without blocking (the send thread writes the rest): a lone request or reply saves a thread
    /// hand-off. Without, it always goes through the send thread, which coalesces a stream of frames into large
    /// writes. Returns false (and recycles the frame) if the link is closed. While a broken connection is being
    /// replaced, frames wait in the queue.
    /// </summary>
    internal bool Enqueue(FrameBuffer frame, bool urgent, bool inline = true)
    {
        string? overflow = null;
        Connection? writer;
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
                writer = null;
            }
            else if (!inline || IsBusy)
            {
                if (urgent)
                {
                    if (frame.Kind == MessageKind.Heartbeat)
                    {
                        _heartbeatsQueued++;
                    }

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
                writer = _holder = _current!;
                Trim();
                overflow = Number(frame, writer);
                if (overflow is not null)
                {
                    _holder = null;
                }
            }
        }

        if (overflow is not null)
        {
            frame.Return();
            Close(overflow);
            return false;
        }

        WriteWithoutWaiting(writer!, frame);
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
        Connection writer;
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

            writer = _holder = _current!;
            Trim();
        }

        FrameBuffer? frame;
        try
        {
            frame = produce();
        }
        catch
        {
            ReleaseSocket(writer);
            throw;
        }

        if (frame is null)
        {
            ReleaseSocket(writer);
            return;
        }

        string? overflow;
        var onWire = false;
        lock (_gate)
        {
            overflow = IsOpen ? Number(frame, writer, out onWire) : null;
        }

        if (overflow is not null)
        {
            frame.Return();
            ReleaseSocket(writer);
            Close(overflow);
            return;
        }

        if (!onWire)
        {
            frame.Return(); // kept, and owed: the current connection's send loop writes it in its turn
            ReleaseSocket(writer);
            return;
        }

        WriteWithoutWaiting(writer, frame);
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

    /// <summary>Closes the link for good, once, for <paramref name="reason"/>; the node reports it and fails its requests.</summary>
    internal void Close(string reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        CloseReason = reason;
        Connection? connection;
        lock (_gate)
        {
            connection = _current;
            _current = null;
            _holder = null;
            foreach (var frame in _urgent.Concat(_bulk))
            {
                frame.Return();
            }

            ReturnPartial();
            _kept.Clear();
            _urgent.Clear();
            _heartbeatsQueued = 0;
            _bulk.Clear();
            _replies.Clear();
            _bulkBytes = 0;
            Monitor.PulseAll(_gate);
        }

        connection?.Retire();
        _node.OnLinkClosed(this, reason);
    }

    /// <summary>Waits for the loops of the link's latest connection to end (after <see cref="Close"/>).</summary>
    internal void Join(TimeSpan timeout)
    {
        var connection = Volatile.Read(ref _latest);
        foreach (var thread in new[] { connection?.Receiver, connection?.Sender })
        {
            if (thread is not null && thread != Thread.CurrentThread && (thread.ThreadState & ThreadState.Unstarted) == 0)
            {
                thread.Join(timeout);
            }
        }
    }

    // Caller holds _gate.
    private bool IsBusy =>
        _current is null || !_current.ResumeSent || _holder is not null || _partial is not null || _nextToWire <= _sentSeq ||
        _urgent.Count > 0 || _replies.Count > 0 || _bulk.Count > 0 || _kept.Bytes >= KeptSoftLimit;

    // Caller holds _gate: whether the send loop of the current connection has something to do. Replies and bulk frames
    // wait while the frames kept for the peer's acknowledgement hold more than their soft limit and none can be dropped:
    // what is unacknowledged is back-pressure, like what is queued.
    private bool HasWork =>
        !_current!.ResumeSent || _partial is not null || _nextToWire <= _sentSeq || _urgent.Count > 0 ||
        ((_replies.Count > 0 || _bulk.Count > 0) && (_kept.Bytes < KeptSoftLimit || CanTrim));

    // Caller holds _gate: bytes kept past which no new reply or bulk frame goes out until the peer acknowledges.
    // Room is left for a whole batch or the largest frame past it, so that what goes out after one check stays under the hard limit.
    private long KeptSoftLimit => Math.Min(_sendQueueHardLimit / 2, _sendQueueHardLimit - _node.Options.MaxFrameBytes - BatchBytes - 64);

    // Caller holds _gate: whether Trim would drop a frame.
    private bool CanTrim => _kept.Count > 0 && TrimThrough >= _kept.FirstSeq(_sentSeq);

    // Caller holds _gate: the last frame Trim may drop (see Trim).
    private ulong TrimThrough => _current is { ResumeSent: true } ? Math.Min(_peerAcked, _nextToWire - 1) : _peerAcked;

    /// <summary>
    /// Gives the next number to a frame about to be written on the current connection and keeps it until the peer
    /// acknowledges it (heartbeats and Resume frames are not numbered). Returns why the link must close, or null, and
    /// the frame stays the caller's.
    /// Caller holds <see cref="_gate"/>.
    /// </summary>
    private string? Number(FrameBuffer frame, Connection writer) => Number(frame, writer, out _);

    /// <param name="frame">The frame.</param>
    /// <param name="writer">The connection whose thread numbers it.</param>
    /// <param name="onWire">
    /// Whether the caller writes it now: false when frames numbered before it are still owed to the current connection,
    /// or the caller's connection was replaced; the frame is then owed, and the current connection's send loop (woken)
    /// writes it in its turn.
    /// </param>
    private string? Number(FrameBuffer frame, Connection writer, out bool onWire)
    {
        onWire = true;
        if (!IsNumbered(frame.Kind))
        {
            return null;
        }

        if (_kept.Bytes + frame.Length > _sendQueueHardLimit)
        {
            return $"over {_sendQueueHardLimit} bytes sent and not acknowledged: the peer does not acknowledge what it reads";
        }

        _kept.Add(frame.Span, frame.Kind);
        _sentSeq++;

        // Written now by the current connection, or owed to it (numbered by a thread of one it replaced, or behind
        // frames still owed).
        if (_nextToWire == _sentSeq && writer == _current)
        {
            _nextToWire++;
        }
        else
        {
            onWire = false;
            Monitor.PulseAll(_gate);
        }

        return null;
    }

    private static bool IsNumbered(byte kind) => kind is not (MessageKind.Heartbeat or MessageKind.Resume);

    /// <summary>
    /// Drops the frames the peer has acknowledged. Once the connection's Resume frame has said where this side goes on,
    /// the frames from there are all written in turn (the peer counts them), so only frames written on it already are
    /// dropped; before, the connection goes on after the last acknowledged one. Caller holds <see cref="_gate"/> and the
    /// writing turn.
    /// </summary>
    private void Trim()
    {
        _kept.TrimThrough(TrimThrough, _sentSeq);
        if (_current is { ResumeSent: false } && _nextToWire < _kept.FirstSeq(_sentSeq))
        {
            _nextToWire = _kept.FirstSeq(_sentSeq);
        }
    }

    private void ReturnPartial()
    {
        _partial?.Dispose();
        _partial = null;
    }

    private void ReleaseSocket(Connection writer)
    {
        string? close;
        lock (_gate)
        {
            if (_holder != writer)
            {
                return; // the connection was replaced meanwhile: the turn is the new one's
            }

            _holder = null;
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
        if (_current is not null && HasWork)
        {
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Writes what the socket takes of <paramref name="frame"/> now (the caller holds the writing turn); the send thread writes the rest.</summary>
    private void WriteWithoutWaiting(Connection connection, FrameBuffer frame)
    {
        PartialWrite? wire = null;
        int sent;
        try
        {
            wire = PartialWrite.Of(frame.Memory, frame.Kind, connection.Cipher, frame);
            sent = SendNow(connection, wire.Remaining);
            wire.Sent = sent;
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException || !IsOpen || connection.Retired)
        {
            // The frame is this writer's (what the peer may need again is kept apart): it goes back to the pool.
            if (wire is not null)
            {
                wire.Dispose();
            }
            else
            {
                frame.Return();
            }

            ReleaseSocket(connection);
            Break(connection, $"send failed: {error.Message}", endOfStream: true);
            return;
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // Nothing may leave the link without a writer for good: the frame goes back, the turn is given up, the link closes.
            if (wire is not null)
            {
                wire.Dispose();
            }
            else
            {
                frame.Return();
            }

            ReleaseSocket(connection);
            Close($"sending failed: {error.GetType().Name}: {error.Message}");
            return;
        }

        lock (_gate)
        {
            if (wire.Done)
            {
                Counters.CountSent(frame.Kind, wire.Length);
                wire.Dispose();
            }
            else if (_current == connection && IsOpen)
            {
                _partial = wire;
            }
            else
            {
                wire.Dispose();
            }
        }

        ReleaseSocket(connection);
    }

    /// <summary>Writes as much of <paramref name="bytes"/> as the socket takes without blocking; returns the bytes written.</summary>
    private int SendNow(Connection connection, ReadOnlySpan<byte> bytes)
    {
        var socket = connection.Socket;
        var sent = 0;
        while (sent < bytes.Length)
        {
            int n;
            if (SocketSend.Supported)
            {
                n = SocketSend.TrySend(socket, bytes[sent..]);
            }
            else
            {
                n = socket.Send(bytes[sent..], SocketFlags.None, out var error);
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

    /// <summary>Writes all of <paramref name="bytes"/>, waiting in Poll while the socket is full; throws when nothing moves for the stall limit.</summary>
    private void SendAll(Connection connection, ReadOnlySpan<byte> bytes)
    {
        var progress = Environment.TickCount64;
        while (!bytes.IsEmpty)
        {
            var n = SendNow(connection, bytes);
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

            if (!IsOpen || connection.Retired)
            {
                throw new ObjectDisposedException(nameof(Link));
            }

            connection.Socket.Poll((int)Math.Min(_stallMilliseconds - stalled, 250) * 1000, SelectMode.SelectWrite);
        }
    }

    // ------------------------------------------------------------------ a connection breaks

    /// <summary>
    /// The connection under the link broke for <paramref name="reason"/> (<paramref name="endOfStream"/>: it ended or was
    /// reset, which a peer that died looks like too). The link is re-established when it may be (the node decides how,
    /// within the failure timeout); otherwise it closes for good.
    /// </summary>
    private void Break(Connection connection, string reason, bool endOfStream)
    {
        bool resumable;
        lock (_gate)
        {
            if (_current != connection || !IsOpen)
            {
                return; // replaced already, or closed
            }

            var now = Environment.TickCount64;
            var window = 10 * (long)_node.Options.FailureTimeout.TotalMilliseconds;
            while (_breaks.TryPeek(out var at) && now - at > window)
            {
                _breaks.Dequeue();
            }

            _breaks.Enqueue(now);
            resumable = _breaks.Count <= MaxBreaks && _node.MayResume(Peer, _peerSpoke);
            if (resumable)
            {
                _current = null;
                _holder = null;
                ReturnPartial();

                // Retired before anyone can attach a new connection: a loop of this one still writing from kept copies
                // (which the new one may drop and reuse) writes to a closed socket, never to the peer.
                connection.Retire();
                Monitor.PulseAll(_gate);
            }
            else if (_breaks.Count > MaxBreaks)
            {
                reason = $"{reason} (the link broke {_breaks.Count} times within {window} ms)";
            }
        }

        if (!resumable)
        {
            Close(reason);
            return;
        }

        _node.OnLinkBroken(this, reason, endOfStream);
    }

    // ------------------------------------------------------------------ receiving

    private void ReceiveLoop(Connection connection)
    {
        MarkMeshThread(_node.Options.NetworkThreadNice);

        // Reads whatever the socket has into one pooled buffer and hands out every complete frame in it, so a burst of
        // small frames costs one receive call. A frame larger than the buffer grows it as its bytes arrive (never by
        // its length prefix alone, so a prefix costs nothing until the bytes behind it come).
        var socket = connection.Socket;
        var cipher = connection.Cipher;
        var buffer = ArrayPool<byte>.Shared.Rent(BatchBytes);
        int start = 0, end = 0;
        try
        {
            while (!connection.Retired)
            {
                connection.ReceiveBusy = true;
                while (end - start >= FrameBuffer.PrefixBytes)
                {
                    var length = BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(start));
                    var limit = _node.Options.MaxFrameBytes + (cipher is null ? 0 : LinkCipher.TagBytes);
                    if (length == 0 || length > (uint)limit)
                    {
                        throw new BrokenStreamException($"frame length {length} is outside 1..{limit}");
                    }

                    var total = FrameBuffer.PrefixBytes + (int)length;
                    if (end - start < total)
                    {
                        break;
                    }

                    var body = buffer.AsMemory(start + FrameBuffer.PrefixBytes, (int)length);
                    if (cipher is not null)
                    {
                        var plain = cipher.Open(buffer.AsSpan(start, FrameBuffer.PrefixBytes), body.Span);
                        if (plain < 0)
                        {
                            throw new BrokenStreamException("a frame failed authentication: tampered with, injected, replayed, reordered or dropped on the way");
                        }

                        body = body[..plain];
                    }

                    if (!Deliver(connection, body, total))
                    {
                        return; // replaced by a newer connection
                    }

                    start += total;
                }

                AcknowledgeIfOwed();
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

                connection.ReceiveBusy = false;
                var received = socket.Receive(buffer.AsSpan(end), SocketFlags.None, out var error);
                connection.ReceiveBusy = true; // what it drained from the socket is news the silence check must not miss
                if (error == SocketError.WouldBlock)
                {
                    connection.ReceiveBusy = false;
                    socket.Poll(250_000, SelectMode.SelectRead);
                    continue;
                }

                if (error != SocketError.Success)
                {
                    throw new SocketException((int)error);
                }

                if (received == 0)
                {
                    Break(connection, end == start ? "the peer closed the connection" : $"the peer closed the connection inside a frame ({end - start} bytes)", endOfStream: true);
                    return;
                }

                end += received;

                // Any bytes count as a sign of life, so a large frame in transit never looks like silence.
                Volatile.Write(ref _lastHeard, Environment.TickCount64);
            }
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException)
        {
            Break(connection, $"receive failed: {error.Message}", endOfStream: true);
        }
        catch (BrokenStreamException error)
        {
            // Bytes that are not the peer's frames (a relay on the path, or a corrupted stream): the link is re-established.
            Break(connection, $"receive failed: {error.Message}", endOfStream: false);
        }
        catch (Exception error) when (!connection.Retired)
        {
            // A frame the peer sealed that does not follow the protocol, or that its handler refused. Nothing a peer
            // sends may take the drone down: it closes just this link, for good.
            Close(MalformedInput.Is(error)
                ? $"receive failed: {MalformedInput.Describe(error)}"
                : $"frame handling failed: {error.GetType().Name}: {error.Message}");
        }
        catch (Exception)
        {
            // A connection replaced already: what it still read is not the link's any more.
        }
        finally
        {
            connection.ReceiveBusy = false;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Takes one frame of <paramref name="connection"/>: acknowledgements and Resume frames here, numbered frames in
    /// order and once each to the node. False when the connection was replaced (its frames are not taken any more).
    /// </summary>
    private bool Deliver(Connection connection, ReadOnlyMemory<byte> body, int wireBytes)
    {
        var reader = new MessagePackReader(body);
        if (reader.ReadArrayHeader() != 3)
        {
            throw new InvalidDataException("frame is not [kind, request id, body]");
        }

        var kind = reader.ReadByte();
        var requestId = reader.ReadUInt64();
        lock (_deliver)
        {
            if (connection.Retired)
            {
                return false;
            }

            Counters.CountReceived(kind, wireBytes);
            if (kind == MessageKind.Heartbeat)
            {
                Acknowledged(requestId);
                return true;
            }

            if (kind == MessageKind.Resume)
            {
                OnResume(connection, requestId, ref reader);
                return true;
            }

            if (connection.IncomingSeq == 0)
            {
                throw new InvalidDataException($"a {MessageKind.Name(kind)} frame came before the connection's Resume frame");
            }

            var seq = connection.IncomingSeq++;
            if (seq <= _received)
            {
                return true; // sent again after a break, and taken before it
            }

            if (seq != _received + 1)
            {
                throw new InvalidDataException($"frame {seq} came after frame {_received}: frames were lost between connections");
            }

            _node.Dispatch(this, kind, requestId, ref reader);
            Volatile.Write(ref _received, seq);
            _bytesSinceAck += wireBytes;
            return true;
        }
    }

    /// <summary>The peer's Resume frame: [the number of the next frame it sends], with the frames it has taken as <paramref name="taken"/>.</summary>
    private void OnResume(Connection connection, ulong taken, ref MessagePackReader reader)
    {
        if (connection.IncomingSeq != 0)
        {
            throw new InvalidDataException("a second Resume frame on one connection");
        }

        if (reader.ReadArrayHeader() != 1)
        {
            throw new InvalidDataException("Resume body is not [next frame]");
        }

        var next = reader.ReadUInt64();
        if (next == 0 || next > _received + 1)
        {
            throw new InvalidDataException($"the peer resumes at frame {next}, but this drone has taken only {_received}: frames were lost");
        }
        Acknowledged(taken);
        connection.IncomingSeq = next;
        _peerSpoke = true;
    }

    /// <summary>The peer has taken frames 1..<paramref name="taken"/>; they need not be kept any more.</summary>
    private void Acknowledged(ulong taken)
    {
        lock (_gate)
        {
            if (taken > _sentSeq)
            {
                throw new InvalidDataException($"the peer acknowledged frame {taken}, but only {_sentSeq} were sent");
            }

            if (taken > _peerAcked)
            {
                if (_kept.Bytes >= KeptSoftLimit)
                {
                    Monitor.PulseAll(_gate); // the send loop waits for this to go on with replies and bulk frames
                }

                _peerAcked = taken;
            }
        }
    }

    /// <summary>Acknowledges what was taken when enough has come since the last acknowledgement (the receive thread's own).</summary>
    private void AcknowledgeIfOwed()
    {
        var received = Received;
        if (received - Volatile.Read(ref _ackSent) >= AckEveryFrames || _bytesSinceAck >= AckEveryBytes)
        {
            SendAck();
        }
    }

    /// <summary>Sends a heartbeat, which acknowledges every frame taken so far.</summary>
    internal void SendAck()
    {
        if (Volatile.Read(ref _heartbeatsQueued) > 0)
        {
            return; // one waits to go out already: the peer needs one acknowledgement at a time, not a queue of them
        }

        var received = Received;
        Volatile.Write(ref _ackSent, received);
        Volatile.Write(ref _ackSentAt, Environment.TickCount64);
        _bytesSinceAck = 0;
        Enqueue(MeshNode.BuildHeartbeat(received), urgent: true);
    }

    // ------------------------------------------------------------------ sending

    private void SendLoop(Connection connection)
    {
        MarkMeshThread(_node.Options.NetworkThreadNice);
        var batch = new Batch();
        var frames = new List<FrameBuffer>();
        var resend = new List<KeptFrames.Frame>();
        try
        {
            while (true)
            {
                Func<FrameBuffer?>? produce = null;
                PartialWrite? partial = null;
                lock (_gate)
                {
                    while (_current == connection && (_holder is not null || !HasWork))
                    {
                        Monitor.Wait(_gate);
                    }

                    if (_current != connection)
                    {
                        return;
                    }

                    _holder = connection;
                    Trim();
                    if (!connection.ResumeSent)
                    {
                        // Each connection opens with a Resume frame: the next frame this side sends, and the frames it has taken.
                        connection.ResumeSent = true;
                        frames.Add(MeshNode.BuildResume(Received, _nextToWire));
                    }
                    else if (_partial is not null)
                    {
                        partial = _partial;
                        _partial = null;
                    }
                    else if (_nextToWire <= _sentSeq)
                    {
                        // Frames owed from before a break (or numbered by a thread of the connection it replaced), from
                        // the copies kept of them.
                        var bytes = 0;
                        while (_nextToWire <= _sentSeq && (bytes == 0 || bytes + _kept.Get(_nextToWire, _sentSeq).Bytes.Length <= BatchBytes))
                        {
                            var frame = _kept.Get(_nextToWire, _sentSeq);
                            resend.Add(frame);
                            bytes += frame.Bytes.Length;
                            _nextToWire++;
                        }
                    }
                    else if (_urgent.Count > 0)
                    {
                        while (_urgent.TryDequeue(out var queued))
                        {
                            var frame = queued;
                            if (frame.Kind == MessageKind.Heartbeat)
                            {
                                // Acknowledges what is taken now, not what was taken when it was queued.
                                _heartbeatsQueued--;
                                frame.Return();
                                var received = Received;
                                Volatile.Write(ref _ackSent, received);
                                Volatile.Write(ref _ackSentAt, Environment.TickCount64);
                                frame = MeshNode.BuildHeartbeat(received);
                            }

                            frames.Add(frame);
                            if (Number(frame, connection) is { } overflow)
                            {
                                throw new LinkOverflowException(overflow);
                            }
                        }
                    }
                    else if (_kept.Bytes >= KeptSoftLimit)
                    {
                        // Replies and bulk frames wait for the peer's acknowledgements (HasWork), which wake this loop.
                    }
                    else if (_replies.TryDequeue(out var next))
                    {
                        produce = next;
                    }
                    else
                    {
                        var bytes = 0;
                        while (_bulk.TryPeek(out var frame) && (bytes == 0 || (bytes + frame.Length <= BatchBytes && _kept.Bytes + frame.Length <= KeptSoftLimit)))
                        {
                            _bulk.Dequeue();
                            _bulkBytes -= frame.Length;
                            frames.Add(frame);
                            bytes += frame.Length;
                            if (Number(frame, connection) is { } overflow)
                            {
                                throw new LinkOverflowException(overflow);
                            }
                        }
                    }

                    Monitor.PulseAll(_gate);
                }

                if (partial is not null)
                {
                    try
                    {
                        SendAll(connection, partial.Remaining);
                        Counters.CountSent(partial.Kind, partial.Length);
                    }
                    finally
                    {
                        partial.Dispose();
                    }
                }
                else if (produce is not null)
                {
                    if (produce() is { } reply)
                    {
                        string? overflow;
                        var onWire = false;
                        lock (_gate)
                        {
                            overflow = IsOpen ? Number(reply, connection, out onWire) : null;
                        }

                        if (overflow is not null)
                        {
                            reply.Return();
                            throw new LinkOverflowException(overflow);
                        }

                        if (onWire)
                        {
                            frames.Add(reply);
                        }
                        else
                        {
                            reply.Return(); // kept, and owed: written in turn, from the copy
                        }
                    }
                }

                foreach (var frame in resend)
                {
                    Write(connection, frame.Bytes.Span, frame.Kind, batch);
                }

                foreach (var frame in frames)
                {
                    Write(connection, frame.Span, frame.Kind, batch);
                }

                Flush(connection, batch);
                ReturnAll(frames);
                resend.Clear();
                ReleaseSocket(connection);
            }
        }
        catch (LinkOverflowException error)
        {
            ReturnAll(frames);
            Close(error.Message);
        }
        catch (SendStalledException error)
        {
            ReturnAll(frames);
            Close(error.Message);
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException)
        {
            ReturnAll(frames);
            ReleaseSocket(connection);
            Break(connection, $"send failed: {error.Message}", endOfStream: true);
        }
        catch (Exception error) when (!connection.Retired && IsOpen)
        {
            // A reply that could not be made, say: nothing may take the drone down; the link closes for good.
            ReturnAll(frames);
            Close($"sending failed: {error.GetType().Name}: {error.Message}");
        }
        catch (Exception)
        {
            // A connection replaced or a link closed meanwhile: what it was writing is kept or gone with it.
            ReturnAll(frames);
        }
    }

    private static void ReturnAll(List<FrameBuffer> frames)
    {
        foreach (var frame in frames)
        {
            frame.Return();
        }

        frames.Clear();
    }

    /// <summary>Adds one frame, sealed, to the batch; writes the batch first when the frame does not fit, and a frame larger than the batch on its own.</summary>
    private void Write(Connection connection, ReadOnlySpan<byte> frame, byte kind, Batch batch)
    {
        var cipher = connection.Cipher;
        var length = frame.Length + (cipher is null ? 0 : LinkCipher.TagBytes);
        if (length > batch.Buffer.Length - batch.Used)
        {
            Flush(connection, batch);
            if (length > batch.Buffer.Length)
            {
                if (cipher is null)
                {
                    SendAll(connection, frame);
                }
                else
                {
                    using var large = PartialWrite.Of(frame, kind, cipher);
                    SendAll(connection, large.Remaining);
                }

                Counters.CountSent(kind, length);
                return;
            }
        }

        Seal(frame, cipher, batch.Buffer.AsSpan(batch.Used, length));
        batch.Used += length;
        Counters.CountSent(kind, length);
    }

    /// <summary>Writes what the batch holds.</summary>
    private void Flush(Connection connection, Batch batch)
    {
        if (batch.Used > 0)
        {
            var used = batch.Used;
            batch.Used = 0;
            SendAll(connection, batch.Buffer.AsSpan(0, used));
        }
    }

    /// <summary>The send loop's buffer that coalesces frames into large writes.</summary>
    private sealed class Batch
    {
        public byte[] Buffer { get; } = new byte[BatchBytes];

        public int Used { get; set; }
    }

    /// <summary>The wire bytes of <paramref name="frame"/> into <paramref name="destination"/>: sealed, or as it is.</summary>
    private static void Seal(ReadOnlySpan<byte> frame, LinkCipher? cipher, Span<byte> destination)
    {
        if (cipher is null)
        {
            frame.CopyTo(destination);
        }
        else
        {
            cipher.Seal(frame, destination);
        }
    }

    /// <summary>One connection under the link: its socket, its cipher (nonces count from zero on each), its two threads.</summary>
    private sealed class Connection(Socket socket, LinkCipher? cipher)
    {
        private int _retired;

        public Socket Socket { get; } = socket;

        public LinkCipher? Cipher { get; } = cipher;

        public Thread? Receiver { get; set; }

        public Thread? Sender { get; set; }

        public volatile bool ReceiveBusy;

        /// <summary>Whether the send loop has written this connection's Resume frame (guarded by the link's gate).</summary>
        public bool ResumeSent { get; set; }

        /// <summary>The number of the peer's next numbered frame on this connection; 0 until its Resume frame (the receive thread's own, under the link's delivery lock).</summary>
        public ulong IncomingSeq { get; set; }

        public bool Retired => Volatile.Read(ref _retired) != 0;

        /// <summary>Ends the connection: its socket closes (its loops end), and nothing it reads is taken any more.</summary>
        public void Retire()
        {
            if (Interlocked.Exchange(ref _retired, 1) != 0)
            {
                return;
            }

            try
            {
                Socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception error) when (error is SocketException or ObjectDisposedException)
            {
                // Reset by the peer already, or closed.
            }

            Socket.Close();
            Cipher?.Dispose();
        }
    }

    /// <summary>The wire bytes of one frame being written, and how far: the frame's own buffer (clear frames) or a sealed copy.</summary>
    private sealed class PartialWrite : IDisposable
    {
        private byte[]? _sealed;
        private FrameBuffer? _owned;
        private ReadOnlyMemory<byte> _bytes;

        public byte Kind { get; private init; }

        public int Length => _bytes.Length;

        public int Sent { get; set; }

        public bool Done => Sent == _bytes.Length;

        public ReadOnlySpan<byte> Remaining => _bytes.Span[Sent..];

        /// <summary>The wire bytes of a frame of <paramref name="owner"/>, which is returned to the pool with them (clear frames are written from it).</summary>
        public static PartialWrite Of(ReadOnlyMemory<byte> frame, byte kind, LinkCipher? cipher, FrameBuffer owner)
        {
            if (cipher is null)
            {
                return new PartialWrite { Kind = kind, _owned = owner, _bytes = frame };
            }

            var write = Of(frame.Span, kind, cipher);
            owner.Return();
            return write;
        }

        /// <summary>The wire bytes of <paramref name="frame"/>, copied (and sealed) into a pooled buffer of their own.</summary>
        public static PartialWrite Of(ReadOnlySpan<byte> frame, byte kind, LinkCipher? cipher)
        {
            var length = frame.Length + (cipher is null ? 0 : LinkCipher.TagBytes);
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            Seal(frame, cipher, buffer.AsSpan(0, length));
            return new PartialWrite { Kind = kind, _sealed = buffer, _bytes = buffer.AsMemory(0, length) };
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _sealed, null) is { } buffer)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            Interlocked.Exchange(ref _owned, null)?.Return();
            _bytes = default;
        }
    }

    /// <summary>
    /// Copies of the numbered frames sent and not yet acknowledged, oldest first (frame n is the (n - first)th), for a new
    /// connection to send again: the frames themselves go back to the pool as soon as they are written, as they did
    /// before links outlived connections. Copies fill chunks of 1 MiB (a larger frame has one of its own), which are
    /// reused once every copy in them is acknowledged. Guarded by the link's gate; dropped only by the thread that holds
    /// the writing turn.
    /// </summary>
    internal sealed class KeptFrames
    {
        private const int ChunkBytes = 1 << 20;
        private const int SpareChunks = 4;

        private readonly Queue<byte[]> _spare = new();
        private Frame[] _ring = new Frame[256];
        private int _head;
        private int _count;
        private byte[]? _chunk;
        private int _chunkUsed;

        /// <summary>A kept copy: its bytes (prefix and body, plain) and kind.</summary>
        internal readonly record struct Frame(ReadOnlyMemory<byte> Bytes, byte Kind, byte[] Chunk);

        public long Bytes { get; private set; }

        public int Count => _count;

        /// <summary>The number of the oldest frame kept (<paramref name="last"/> + 1 when none is: the next to be numbered).</summary>
        public ulong FirstSeq(ulong last) => last - (ulong)_count + 1;

        public void Add(ReadOnlySpan<byte> frame, byte kind)
        {
            byte[] chunk;
            int offset;
            if (frame.Length > ChunkBytes)
            {
                // A pooled array of its own, back to the pool once acknowledged; the next small copy starts a new
                // chunk, so each chunk's copies stay together.
                chunk = ArrayPool<byte>.Shared.Rent(frame.Length);
                offset = 0;
                _chunk = null;
            }
            else
            {
                if (_chunk is null || ChunkBytes - _chunkUsed < frame.Length)
                {
                    _chunk = _spare.TryDequeue(out var spare) ? spare : new byte[ChunkBytes];
                    _chunkUsed = 0;
                }

                chunk = _chunk;
                offset = _chunkUsed;
                _chunkUsed += frame.Length;
            }

            frame.CopyTo(chunk.AsSpan(offset));
            if (_count == _ring.Length)
            {
                var larger = new Frame[_ring.Length * 2];
                for (var i = 0; i < _count; i++)
                {
                    larger[i] = _ring[(_head + i) % _ring.Length];
                }

                _ring = larger;
                _head = 0;
            }

            _ring[(_head + _count) % _ring.Length] = new Frame(chunk.AsMemory(offset, frame.Length), kind, chunk);
            _count++;
            Bytes += frame.Length;
        }

        public Frame Get(ulong seq, ulong last) => _ring[(_head + (int)(seq - FirstSeq(last))) % _ring.Length];

        public void TrimThrough(ulong seq, ulong last)
        {
            while (_count > 0 && FirstSeq(last) <= seq)
            {
                var frame = _ring[_head];
                _ring[_head] = default;
                _head = (_head + 1) % _ring.Length;
                _count--;
                Bytes -= frame.Bytes.Length;

                // A chunk whose last copy goes (the next one is in another chunk) is free again; the one being filled
                // starts over once it holds nothing.
                var next = _count > 0 ? _ring[_head].Chunk : null;
                if (frame.Chunk.Length > ChunkBytes)
                {
                    ArrayPool<byte>.Shared.Return(frame.Chunk);
                }
                else if (frame.Chunk != next && frame.Chunk != _chunk && _spare.Count < SpareChunks)
                {
                    _spare.Enqueue(frame.Chunk);
                }
                else if (_count == 0 && frame.Chunk == _chunk)
                {
                    _chunkUsed = 0;
                }
            }
        }

        public void Clear()
        {
            Array.Clear(_ring);
            _head = _count = 0;
            _chunk = null;
            _chunkUsed = 0;
            Bytes = 0;
        }
    }

    private sealed class SendStalledException(string message) : Exception(message);

    private sealed class LinkOverflowException(string message) : Exception(message);

    /// <summary>Bytes on a connection that are not the peer's frames: the connection is replaced, the link goes on.</summary>
    private sealed class BrokenStreamException(string message) : Exception(message);
}
