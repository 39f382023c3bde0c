using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using HiveMind.Net.Codec;
using MessagePack;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HiveMind.Net.Transport;

/// <summary>Writes the body of a frame: exactly one MessagePack value (usually an array).</summary>
internal delegate void BodyWriter<TState>(ref MessagePackWriter writer, TState state);

/// <summary>
/// One drone's end of the mesh: a listener, one authenticated link per peer, request/response with
/// correlation ids, heartbeats and the failure detector, and (on drone 0) the registry that hands out the
/// peer table so that the drones connect to each other with exactly one link per pair.
/// </summary>
internal sealed partial class MeshNode : IDisposable
{

    private readonly IFrameConsumer _consumer;
    private readonly ILogger _logger;
    private readonly Socket _listener;
    private readonly ConcurrentDictionary<int, Link> _links = new();
    private readonly ConcurrentDictionary<ulong, PendingRequest> _pending = new();
    private readonly ConcurrentDictionary<int, string> _failed = new();
    private readonly ConcurrentDictionary<int, IPEndPoint> _registered = new();
    private readonly ConcurrentDictionary<int, IPEndPoint> _dialed = new();
    private readonly LinkedList<PendingHandshake> _handshakes = new();
    private readonly ConcurrentDictionary<int, byte> _announced = new();
    private readonly ManualResetEventSlim _stopping = new();
    private readonly ManualResetEventSlim _peerTableArrived = new();
    private readonly object _membership = new();
    private readonly Thread _acceptor;
    private readonly Thread _heartbeat;
    private IReadOnlyDictionary<int, IPEndPoint>? _peerTable;
    private int _expectedDrones;
    private int _nextNewcomer;
    private long _nextRequestId;
    private long _rejectedConnections;
    private int _disposed;
    private volatile bool _leaving;

    /// <summary>Creates drone <paramref name="id"/>'s node and starts listening.</summary>
    public MeshNode(int id, MeshOptions options, IFrameConsumer consumer, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(consumer);
        options.Validate();
        if (id < 0 && id != Newcomer)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, "A drone id is not negative (a newcomer uses MeshNode.Newcomer).");
        }

        Id = id;
        Options = options;
        _consumer = consumer;
        _logger = logger ?? NullLogger.Instance;
        _listener = new Socket(options.ListenAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (options.ListenAddress.Equals(IPAddress.IPv6Any))
        {
            _listener.DualMode = true; // "every interface" means IPv4 ones too (.NET makes IPv6 sockets IPv6-only)
        }

        _listener.Bind(new IPEndPoint(options.ListenAddress, options.ListenPort));
        _listener.Listen(128);
        ListenEndpoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptor = new Thread(AcceptLoop) { IsBackground = true, Name = $"hivemind {id} accept" };
        _heartbeat = new Thread(HeartbeatLoop) { IsBackground = true, Name = $"hivemind {id} heartbeat" };
        _acceptor.Start();
        _heartbeat.Start();
    }

    /// <summary>Raised once per peer whose link closes (reset, end of stream, a send that stalled): (peer, reason).</summary>
    public event Action<int, string>? PeerFailed;

    /// <summary>
    /// Raised (on the heartbeat thread) when a peer has been silent for the failure timeout, and again at each further
    /// failure timeout of silence: (peer, milliseconds of silence). The link stays up; <see cref="Disconnect"/> ends it.
    /// </summary>
    public event Action<int, long>? PeerSilent;

    /// <summary>
    /// Raised when the connection under the link to a peer breaks (reset, end of stream, a frame that failed
    /// authentication) and a new one is being made: (peer, reason). <see cref="PeerFailed"/> follows when none carries
    /// the link on within the failure timeout; <see cref="LinkResumed"/> when one does.
    /// </summary>
    public event Action<int, string>? LinkBroken;

    /// <summary>Raised when a new connection carries on the link to a peer after a break; nothing sent was lost.</summary>
    public event Action<int>? LinkResumed;

    /// <summary>Raised for each connection dropped before or during the handshake, with the reason.</summary>
    public event Action<string>? ConnectionRejected;

    /// <summary>The id a node that joins a running run has until drone 0 gives it one (<see cref="JoinMesh"/>).</summary>
    public const int Newcomer = Handshake.Newcomer;

    /// <summary>This drone's id (<see cref="Newcomer"/> until a joining node is given one).</summary>
    public int Id { get; private set; }

    public MeshOptions Options { get; }

    /// <summary>Where this node accepts links.</summary>
    public IPEndPoint ListenEndpoint { get; }

    /// <summary>Connections dropped before or during the handshake (wrong key, bad frames, duplicates).</summary>
    public long RejectedConnections => Interlocked.Read(ref _rejectedConnections);

    /// <summary>Peers with an open link.</summary>
    public IReadOnlyCollection<int> ConnectedPeers => _links.Where(l => l.Value.IsOpen).Select(l => l.Key).OrderBy(p => p).ToList();

    /// <summary>The open link to <paramref name="peer"/>, or null.</summary>
    public Link? GetLink(int peer) => _links.TryGetValue(peer, out var link) && link.IsOpen && !_failed.ContainsKey(peer) ? link : null;

    /// <summary>The counters of the link to <paramref name="peer"/>, open or closed, or null if there never was one.</summary>
    public LinkCounters? CountersOf(int peer) => _links.TryGetValue(peer, out var link) ? link.Counters : null;

    /// <summary>Requests waiting for a reply.</summary>
    public int PendingRequests => _pending.Count;

    // ------------------------------------------------------------------ forming the mesh

    /// <summary>
    /// Joins the run of <paramref name="drones"/> drones and returns when this node has a link to every other.
    /// Drone 0 is the registry: it waits for every drone to register, then sends each the peer table. Other
    /// drones register with <paramref name="registry"/> and connect to every drone with a lower id (above 0).
    /// </summary>
    public void FormMesh(int drones, IPEndPoint? registry, TimeSpan timeout) => FormMesh(drones, registry, timeout, stop: null);

    /// <summary>
    /// As <see cref="FormMesh(int, IPEndPoint?, TimeSpan)"/>, but <paramref name="stop"/> is asked every 100 ms while this
    /// node waits for the others: a reason it returns (a drone's process exited, say) ends the start at once with that
    /// reason in the <see cref="MeshException"/>.
    /// </summary>
    public void FormMesh(int drones, IPEndPoint? registry, TimeSpan timeout, Func<string?>? stop)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(drones, 1);
        if (Id >= drones)
        {
            throw new ArgumentOutOfRangeException(nameof(drones), drones, $"drone {Id} cannot be in a run of {drones} drones");
        }

        var deadline = DateTime.UtcNow + timeout;
        lock (_membership)
        {
            _expectedDrones = drones;
            _nextNewcomer = drones;
        }

        if (Id == 0)
        {
            SendPeerTableIfComplete();
        }
        else
        {
            ArgumentNullException.ThrowIfNull(registry);
            ConnectWith(0, registry, Remaining(deadline), retryHandshake: true, Options.RegistryRefusedFor, resume: null, socket => (0, Handshake.Connect(socket, Options, Id, 0)));
            RegisterWithDroneZero(registry, "");
            AwaitPeerTable(deadline, timeout, "");

            foreach (var (peer, endpoint) in _peerTable!)
            {
                if (peer > 0 && peer < Id)
                {
                    Connect(peer, endpoint, Remaining(deadline));
                }
            }
        }

        while (true)
        {
            var missing = Enumerable.Range(0, drones).Where(p => p != Id && GetLink(p) is null).ToList();
            if (missing.Count == 0)
            {
                return;
            }

            if (stop?.Invoke() is { } reason)
            {
                throw new MeshException($"drone {Id}: the run cannot form: {reason}");
            }

            if (DateTime.UtcNow >= deadline || _stopping.IsSet)
            {
                throw new MeshException(
                    $"drone {Id}: mesh of {drones} not formed within {timeout.TotalSeconds:F1} s; no link to drone(s) {string.Join(", ", missing)}");
            }

            lock (_membership)
            {
                Monitor.Wait(_membership, TimeSpan.FromMilliseconds(100));
            }
        }
    }

    /// <summary>
    /// Joins a run that has already formed, as a newcomer: proves the key to drone 0 at <paramref name="registry"/>,
    /// takes the id drone 0 gives, registers, and links up with every drone in the peer table drone 0 sends back.
    /// Returns the run's slot capacity (ids are below it). Throws <see cref="MeshException"/> with drone 0's
    /// reason when it refuses (the run is full or takes no joiners), or when a link cannot be made in time.
    /// </summary>
    public int JoinMesh(IPEndPoint registry, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(registry);
        if (Id != Newcomer)
        {
            throw new InvalidOperationException($"drone {Id} is part of its run already; only a newcomer node joins.");
        }

        var deadline = DateTime.UtcNow + timeout;
        var capacity = 0;
        ConnectWith(0, registry, Remaining(deadline), retryHandshake: false, RefusedFor, resume: null, socket =>
        {
            (Id, capacity, var secrets) = Handshake.ConnectAsNewcomer(socket, Options);
            return (0, secrets);
        });
        RegisterWithDroneZero(registry, " (joining)");
        AwaitPeerTable(deadline, timeout, " (joining)");

        // A drone that failed before drone 0 noticed cannot hold the join up: it is skipped (and, once this drone is
        // admitted, reported for having no link); a live one answers well within the failure timeout.
        var peers = _peerTable!.Where(p => p.Key != 0 && p.Key != Id).ToList();
        foreach (var (peer, endpoint) in peers)
        {
            try
            {
                Connect(peer, endpoint, Remaining(deadline) < Options.FailureTimeout ? Remaining(deadline) : Options.FailureTimeout);
            }
            catch (MeshException error)
            {
                LogPeerSkipped(_logger, Id, peer, error.Message);
            }
        }

        return capacity;
    }

    /// <summary>
    /// Waits for drone 0's peer table; a drone 0 that is gone meanwhile (its link closed for good) ends the wait at once,
    /// so a drone whose drone 0 died while the run formed does not wait out the whole start.
    /// </summary>
    private void AwaitPeerTable(DateTime deadline, TimeSpan timeout, string role)
    {
        while (!_peerTableArrived.Wait(TimeSpan.FromMilliseconds(50)))
        {
            if (GetLink(0) is null)
            {
                throw DroneZeroLeft(role);
            }

            if (DateTime.UtcNow >= deadline || _stopping.IsSet)
            {
                throw new MeshException($"drone {Id}{role}: no peer table from drone 0 within {timeout.TotalSeconds:F1} s");
            }
        }
    }

    private MeshException DroneZeroLeft(string role) =>
        new($"drone {Id}{role}: drone 0 left before sending the peer table ({_failed.GetValueOrDefault(0) ?? "its link closed"})");

    /// <summary>
    /// Tells drone 0 (the registry) where this node listens; drone 0 answers with the peer table. A drone 0 gone between
    /// the handshake and this message ends the start as one gone while this node waits for the table.
    /// </summary>
    private void RegisterWithDroneZero(IPEndPoint registry, string role)
    {
        var advertised = new IPEndPoint(AdvertisedAddress(registry), ListenEndpoint.Port);
        try
        {
            Send(0, MessageKind.Register, advertised, static (ref MessagePackWriter w, IPEndPoint endpoint) =>
            {
                w.WriteArrayHeader(2);
                w.Write(endpoint.Address.ToString());
                w.Write(endpoint.Port);
            });
        }
        catch (MeshException) when (GetLink(0) is null)
        {
            throw DroneZeroLeft(role);
        }
    }

    /// <summary>
    /// The address this node tells drone 0 (at <paramref name="registry"/>) the others reach it at: the advertised address, the
    /// listen address, or, when it listens on every interface, the address its traffic to drone 0 leaves from.
    /// </summary>
    private IPAddress AdvertisedAddress(IPEndPoint registry)
    {
        if (Options.AdvertiseAddress is { } advertised)
        {
            return advertised;
        }

        if (!HostRoutes.IsUnspecified(ListenEndpoint.Address))
        {
            return ListenEndpoint.Address;
        }

        try
        {
            return HostRoutes.SourceToward(registry);
        }
        catch (SocketException error)
        {
            throw new MeshException($"drone {Id} listens on {ListenEndpoint} and has no route to drone 0 at {registry} to take its address from ({error.SocketErrorCode}); give it an address to advertise", error);
        }
    }

    /// <summary>Connects to <paramref name="peer"/> at <paramref name="endpoint"/>, retrying with backoff, and runs the handshake.</summary>
    public Link Connect(int peer, IPEndPoint endpoint, TimeSpan timeout) =>
        ConnectWith(peer, endpoint, timeout, retryHandshake: true, RefusedFor, resume: null, socket => (peer, Handshake.Connect(socket, Options, Id, peer)));

    /// <remarks>
    /// Without <paramref name="retryHandshake"/>, only connecting is retried: a handshake that fails (the key is not
    /// the run's, or drone 0 refuses) fails at once. Connecting gives up once the peer has refused for
    /// <paramref name="refusedFor"/>. With <paramref name="resume"/>, the connection carries on that link.
    /// </remarks>
    private Link ConnectWith(
        int peer, IPEndPoint endpoint, TimeSpan timeout, bool retryHandshake, TimeSpan refusedFor, Link? resume, Func<Socket, (int Peer, LinkSecrets Secrets)> handshake)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var deadline = DateTime.UtcNow + timeout;
        var backoff = TimeSpan.FromMilliseconds(10);
        DateTime? firstRefused = null;
        string? lastRefusal = null;
        while (true)
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                ConnectWithin(socket, endpoint, Remaining(deadline));
                socket.ReceiveTimeout = (int)Options.HandshakeTimeout.TotalMilliseconds;
                var (linked, secrets) = handshake(socket);
                socket.ReceiveTimeout = 0;
                var link = Adopt(socket, linked, secrets, resume) ??
                    throw new MeshException(resume is null ? $"drone {Id}: a link to drone {linked} already exists" : $"drone {Id}: the link to drone {linked} closed meanwhile");
                _dialed[linked] = endpoint;
                return link;
            }
            catch (Exception error) when (!retryHandshake && MalformedInput.Is(error))
            {
                socket.Dispose();
                throw new MeshException($"drone 0 at {endpoint} did not take this drone in: {error.Message}", error);
            }
            catch (Exception error) when (error is SocketException || MalformedInput.Is(error))
            {
                socket.Dispose();

                // Every drone listens before it registers, and drone 0 before it starts the others: a refusal that lasts
                // is a wrong address or a drone that is gone, not one that is still starting.
                lastRefusal = MalformedInput.Is(error) ? error.Message : lastRefusal;
                var refused = error is SocketException { SocketErrorCode: SocketError.ConnectionRefused };
                firstRefused = refused ? firstRefused ?? DateTime.UtcNow : null;
                if (DateTime.UtcNow + backoff >= deadline || _stopping.IsSet || (refused && DateTime.UtcNow - firstRefused >= refusedFor) || resume is { IsOpen: false })
                {
                    var refusal = MalformedInput.Is(error) || lastRefusal is null ? "" : $" (it refused the connection earlier: {lastRefusal})";
                    throw new MeshException($"drone {Id}: cannot connect to drone {peer} at {endpoint}: {error.Message}{refusal}", error);
                }

                LogConnectRetry(_logger, Id, peer, endpoint, error.Message);
                _stopping.Wait(backoff);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }
        }
    }

    // How long connecting goes on while the peer refuses (nothing listens at its address).
    private static readonly TimeSpan RefusedFor = TimeSpan.FromSeconds(2);

    /// <summary>Connects, giving up after <paramref name="timeout"/> (an address that drops the attempt would hold a plain connect for minutes).</summary>
    private static void ConnectWithin(Socket socket, IPEndPoint endpoint, TimeSpan timeout)
    {
        // On the calling thread (a non-blocking connect and a poll), not on the thread pool: a refusal, which is how a
        // drone that died is found, is known as soon as the kernel knows it, however busy the pool is.
        socket.Blocking = false;
        try
        {
            socket.Connect(endpoint);
        }
        catch (SocketException error) when (error.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress or SocketError.AlreadyInProgress)
        {
            var micros = (long)Math.Clamp(timeout.TotalMicroseconds, 0, int.MaxValue);
            if (!socket.Poll((int)micros, SelectMode.SelectWrite))
            {
                socket.Dispose(); // ends the attempt
                throw new SocketException((int)SocketError.TimedOut);
            }
        }

        var result = (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        if (result != SocketError.Success)
        {
            throw new SocketException((int)result);
        }

        socket.Blocking = true;
    }

    // ------------------------------------------------------------------ sending

    /// <summary>
    /// Sends a one-way frame of <paramref name="kind"/> to <paramref name="peer"/> through the link's send loop,
    /// which coalesces streams of frames. Blocks while the link's queue is full.
    /// </summary>
    public void Send<TState>(int peer, byte kind, TState state, BodyWriter<TState> body) => Send(peer, kind, state, body, inline: false);

    /// <summary>
    /// Sends a one-way frame; with <paramref name="inline"/> the calling thread writes it itself when the link is
    /// idle (lower latency for a lone message, as requests and replies get); without, the send loop coalesces.
    /// </summary>
    public void Send<TState>(int peer, byte kind, TState state, BodyWriter<TState> body, bool inline)
    {
        var link = GetLink(peer) ?? throw new MeshException($"drone {Id}: no open link to drone {peer} for {MessageKind.Name(kind)}");
        if (!link.Enqueue(CheckSize(Build(kind, 0, state, body)), urgent: false, inline: inline))
        {
            throw new MeshException($"drone {Id}: link to drone {peer} closed while sending {MessageKind.Name(kind)} ({link.CloseReason})");
        }
    }

    /// <summary>Sends a request and waits for its reply (<see cref="Timeout.InfiniteTimeSpan"/>: as long as the link is open).</summary>
    /// <exception cref="MeshException">No reply within <paramref name="timeout"/>, the link closed, or the peer answered with an error.</exception>
    public Reply Request<TState>(int peer, byte kind, TState state, BodyWriter<TState> body, TimeSpan timeout)
    {
        // The caller's own wait is the timeout: no timer per request on the blocking path.
        var (id, pending) = Start(peer, kind, state, body, timeout: null);
        try
        {
            if (!pending.Completion.Task.Wait(timeout))
            {
                if (_pending.TryRemove(id, out _))
                {
                    throw TimedOut(peer, kind, timeout);
                }
            }

            return pending.Completion.Task.GetAwaiter().GetResult();
        }
        catch (AggregateException error) when (error.InnerException is MeshException inner)
        {
            throw inner;
        }
    }

    /// <summary>
    /// Sends a request; the task completes with the reply, or fails with a <see cref="MeshException"/> that names the peer
    /// and kind (<see cref="Timeout.InfiniteTimeSpan"/>: no reply is awaited longer than the link stays open).
    /// </summary>
    public Task<Reply> RequestAsync<TState>(int peer, byte kind, TState state, BodyWriter<TState> body, TimeSpan timeout) =>
        Start(peer, kind, state, body, timeout == Timeout.InfiniteTimeSpan ? null : timeout).Pending.Completion.Task;

    private (ulong Id, PendingRequest Pending) Start<TState>(int peer, byte kind, TState state, BodyWriter<TState> body, TimeSpan? timeout)
    {
        var link = GetLink(peer) ?? throw new MeshException($"drone {Id}: no open link to drone {peer} for {MessageKind.Name(kind)}");
        var id = (ulong)Interlocked.Increment(ref _nextRequestId);
        var pending = new PendingRequest(peer, kind);
        _pending[id] = pending;
        if (timeout is { } limit)
        {
            pending.Timer = new Timer(
                static s =>
                {
                    var (node, requestId, limit) = ((MeshNode, ulong, TimeSpan))s!;
                    if (node._pending.TryRemove(requestId, out var expired))
                    {
                        expired.Completion.TrySetException(node.TimedOut(expired.Peer, expired.Kind, limit));
                        expired.Timer?.Dispose();
                    }
                },
                (this, id, limit),
                limit,
                Timeout.InfiniteTimeSpan);
        }

        FrameBuffer frame;
        try
        {
            frame = CheckSize(Build(kind, id, state, body));
        }
        catch
        {
            _pending.TryRemove(id, out _);
            pending.Timer?.Dispose();
            throw;
        }

        if (!link.Enqueue(frame, urgent: false) && _pending.TryRemove(id, out _))
        {
            pending.Timer?.Dispose();
            pending.Completion.TrySetException(new MeshException(
                $"drone {Id}: link to drone {peer} closed before {MessageKind.Name(kind)} was sent ({link.CloseReason})"));
        }

        return (id, pending);
    }

    private MeshException TimedOut(int peer, byte kind, TimeSpan timeout) =>
        new($"drone {Id}: no reply from drone {peer} to {MessageKind.Name(kind)} within {timeout.TotalMilliseconds:F0} ms");

    /// <summary>
    /// Answers request <paramref name="requestId"/> of <paramref name="peer"/>. The reply is made by the link's send side
    /// when it gets to it (at once when the link is idle), so a receive thread that answers never waits on the socket.
    /// </summary>
    /// <remarks>A <paramref name="sizeHint"/> (bytes of body) sizes the frame up front, so a large reply is not copied as it grows.</remarks>
    public void Reply<TState>(int peer, ulong requestId, TState state, BodyWriter<TState> body, int sizeHint = 0)
    {
        CheckRequestId(requestId);
        Serve(peer, requestId, () => BuildReply(requestId, state, body, sizeHint));
    }

    /// <summary>
    /// Answers request <paramref name="requestId"/> of <paramref name="peer"/> with the frame <paramref name="produce"/>
    /// makes (<see cref="BuildReply"/> or <see cref="BuildError"/>) when the link's send side gets to it: replies are made
    /// only as fast as the peer reads them, and never by a thread that would wait for the socket. A null frame means
    /// the reply cannot be made yet: the caller keeps the request and serves it again later. A producer that throws is
    /// answered with an error reply, and the peer's link stays up.
    /// </summary>
    public void Serve(int peer, ulong requestId, Func<FrameBuffer?> produce)
    {
        ArgumentNullException.ThrowIfNull(produce);
        CheckRequestId(requestId);
        GetLink(peer)?.Serve(
            () =>
            {
                try
                {
                    return produce() is { } frame ? CheckSize(frame) : null;
                }
                catch (Exception error) when (error is not OutOfMemoryException)
                {
                    LogReplyFailed(_logger, Id, peer, requestId, error.Message);
                    return BuildError(requestId, $"drone {Id} could not answer: {error.Message}");
                }
            },
            () => BuildError(requestId, $"drone {Id} has too many requests of drone {peer} waiting for replies"));
    }

    /// <summary>Answers request <paramref name="requestId"/> of <paramref name="peer"/> with an error the requester sees.</summary>
    public void ReplyError(int peer, ulong requestId, string message) =>
        GetLink(peer)?.Enqueue(BuildError(requestId, message), urgent: true);

    /// <summary>The frame of a reply to request <paramref name="requestId"/>, for <see cref="Serve"/>.</summary>
    public static FrameBuffer BuildReply<TState>(ulong requestId, TState state, BodyWriter<TState> body, int sizeHint = 0) =>
        Build(MessageKind.Response, requestId, state, body, sizeHint);

    /// <summary>The frame of an error reply to request <paramref name="requestId"/>, for <see cref="Serve"/>.</summary>
    public static FrameBuffer BuildError(ulong requestId, string message) =>
        Build(MessageKind.ErrorResponse, requestId, message, static (ref MessagePackWriter w, string m) => w.Write(m));

    /// <summary>
    /// A frame the peer would refuse (over the run's frame limit) is an error here, where it is made, naming its kind and
    /// size, instead of a link the peer closes and a healthy drone taken for failed.
    /// </summary>
    private FrameBuffer CheckSize(FrameBuffer frame)
    {
        var body = frame.Length - FrameBuffer.PrefixBytes;
        if (body > Options.MaxFrameBytes)
        {
            var kind = frame.Kind;
            frame.Return();
            throw new MeshException($"drone {Id}: a {MessageKind.Name(kind)} frame of {body} bytes is over the run's frame limit of {Options.MaxFrameBytes} bytes");
        }

        return frame;
    }

    private static void CheckRequestId(ulong requestId)
    {
        if (requestId == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(requestId), "Request id 0 marks a one-way frame, which takes no reply.");
        }
    }

    /// <summary>A heartbeat that acknowledges the first <paramref name="received"/> frames of the peer.</summary>
    internal static FrameBuffer BuildHeartbeat(ulong received) =>
        Build(MessageKind.Heartbeat, received, 0, static (ref MessagePackWriter w, int _) => w.WriteNil());

    /// <summary>The frame that opens a connection: the number of the next frame this side sends, with the frames it has taken.</summary>
    internal static FrameBuffer BuildResume(ulong received, ulong next) =>
        Build(MessageKind.Resume, received, next, static (ref MessagePackWriter w, ulong n) =>
        {
            w.WriteArrayHeader(1);
            w.Write(n);
        });

    private static FrameBuffer Build<TState>(byte kind, ulong requestId, TState state, BodyWriter<TState> body, int sizeHint = 0)
    {
        var frame = FrameBuffer.Rent(Math.Max(sizeHint, 256) + 32);
        frame.Kind = kind;
        var writer = new MessagePackWriter(frame);
        writer.WriteArrayHeader(3);
        writer.Write(kind);
        writer.Write(requestId);
        body(ref writer, state);
        writer.Flush();
        frame.Seal();
        return frame;
    }

    // ------------------------------------------------------------------ receiving

    /// <summary>Handles one numbered frame of <paramref name="link"/> on its receive thread (heartbeats and Resume frames are the link's own).</summary>
    /// <remarks>The link has read the frame's kind and request id; <paramref name="reader"/> is at its body.</remarks>
    internal void Dispatch(Link link, byte kind, ulong requestId, ref MessagePackReader reader)
    {
        if (_failed.ContainsKey(link.Peer))
        {
            return; // disconnected: nothing it says is taken any more (its link closes shortly)
        }

        switch (kind)
        {
            case MessageKind.Response or MessageKind.ErrorResponse:
                Complete(link.Peer, kind, requestId, ref reader);
                break;
            case MessageKind.Register when Id == 0:
                OnRegister(link.Peer, ref reader);
                break;
            case MessageKind.PeerTable when link.Peer == 0:
                OnPeerTable(ref reader);
                break;
            case MessageKind.Announce when link.Peer == 0:
                OnAnnounce(ref reader);
                break;
            case >= MessageKind.FirstApplicationKind when _consumer.IsKnownKind(kind):
                _consumer.OnFrame(this, link.Peer, kind, requestId, ref reader);
                break;
            default:
                throw new InvalidDataException($"unexpected {MessageKind.Name(kind)} from drone {link.Peer}");
        }
    }

    private void Complete(int peer, byte kind, ulong requestId, ref MessagePackReader reader)
    {
        var start = reader.Position;
        reader.SkipValue();

        // A reply completes only a request sent to the drone it comes from: another drone's reply (a guessed id) is
        // refused and logged, and the request goes on waiting for its own.
        if (!_pending.TryGetValue(requestId, out var pending) || pending.Peer != peer)
        {
            if (pending is null)
            {
                LogLateReply(_logger, Id, peer, requestId);
            }
            else
            {
                LogForeignReply(_logger, Id, peer, requestId, pending.Peer);
            }

            return;
        }

        if (!_pending.TryRemove(requestId, out _))
        {
            return;
        }

        pending.Timer?.Dispose();

        var body = reader.Sequence.Slice(start, reader.Position).ToArray();
        if (kind == MessageKind.ErrorResponse)
        {
            // The request is out of the table already, so a closing link no longer fails it: an error reply that does
            // not decode fails the request here, then closes the link (its peer's fault) as any bad frame does.
            string error;
            try
            {
                var errorReader = new MessagePackReader(body);
                error = errorReader.ReadText();
            }
            catch (Exception malformed) when (MalformedInput.Is(malformed))
            {
                pending.Completion.TrySetException(new MeshException(
                    $"drone {pending.Peer} answered {MessageKind.Name(pending.Kind)} from drone {Id} with a malformed error reply: {MalformedInput.Describe(malformed)}", malformed));
                throw;
            }

            pending.Completion.TrySetException(new MeshException(
                $"drone {pending.Peer} failed {MessageKind.Name(pending.Kind)} from drone {Id}: {error}"));
            return;
        }

        pending.Completion.TrySetResult(new Reply(peer, pending.Kind, body));
    }

    private void OnRegister(int peer, ref MessagePackReader reader)
    {
        if (reader.ReadArrayHeader() != 2)
        {
            throw new InvalidDataException("Register body is not [host, port]");
        }

        var host = reader.ReadText();
        var port = reader.ReadInt32();
        if (!IPAddress.TryParse(host, out var address) || !HostRoutes.IsConnectable(address) || port is <= 0 or > 65535)
        {
            throw new InvalidDataException($"drone {peer} registered an unusable endpoint {host}:{port}");
        }

        _registered[peer] = new IPEndPoint(address, port);
        Dictionary<int, IPEndPoint>? forNewcomer = null;
        lock (_membership)
        {
            if (_peerTable is not null && peer >= _expectedDrones)
            {
                // A newcomer in a formed run: it links up with every drone not known to have failed.
                var table = new Dictionary<int, IPEndPoint>(_peerTable) { [peer] = _registered[peer] };
                _peerTable = table;
                forNewcomer = table.Where(e => !_failed.ContainsKey(e.Key)).ToDictionary(e => e.Key, e => e.Value);
            }
        }

        if (forNewcomer is null)
        {
            SendPeerTableIfComplete();
            return;
        }

        // The members hear of the newcomer before it hears of them: a member takes a link only from an id drone 0 gave.
        foreach (var member in forNewcomer.Keys.Where(m => m != 0 && m != peer))
        {
            if (GetLink(member) is not null)
            {
                Send(member, MessageKind.Announce, peer, static (ref MessagePackWriter w, int id) =>
                {
                    w.WriteArrayHeader(1);
                    w.Write(id);
                });
            }
        }

        SendPeerTable(peer, forNewcomer);
    }

    private void OnAnnounce(ref MessagePackReader reader)
    {
        if (reader.ReadArrayHeader() != 1)
        {
            throw new InvalidDataException("Announce body is not [id]");
        }

        var id = reader.ReadInt32();
        if (id <= 0 || id >= Options.MaxDrones)
        {
            throw new InvalidDataException($"drone 0 announced an unusable id {id}");
        }

        _announced.TryAdd(id, 0);
    }

    /// <summary>
    /// Whether a connector that proved the key may link as drone <paramref name="peer"/>: a drone of the run as it
    /// formed, or one drone 0 gave that id (to drone 0 itself: one it gave; to the others: one it announced).
    /// </summary>
    private bool IsAssigned(int peer)
    {
        lock (_membership)
        {
            return (_expectedDrones == 0 && _peerTable is null) || peer < _expectedDrones || _announced.ContainsKey(peer) || (Id == 0 && peer < _nextNewcomer);
        }
    }

    /// <summary>
    /// On drone 0: the id for a newcomer that proved the key, or why it is refused. Ids are never used twice, so
    /// a drone that failed never comes back under its old id.
    /// </summary>
    private (int Id, string? Refusal) AssignNewcomer()
    {
        lock (_membership)
        {
            if (_peerTable is null)
            {
                return (-1, "the run is still forming; join once it runs");
            }

            if (_nextNewcomer >= Options.MaxDrones)
            {
                return (-1, $"the run is full: it takes at most {Options.MaxDrones} drones (--max-drones), and ids are not reused");
            }

            return (_nextNewcomer++, null);
        }
    }

    private void SendPeerTableIfComplete()
    {
        Dictionary<int, IPEndPoint> table;
        lock (_membership)
        {
            if (_expectedDrones == 0 || _peerTable is not null || _registered.Count < _expectedDrones - 1)
            {
                return;
            }

            table = new Dictionary<int, IPEndPoint>(_registered) { [0] = Options.AdvertiseAddress is { } advertised ? new IPEndPoint(advertised, ListenEndpoint.Port) : ListenEndpoint };
            _peerTable = table;
        }

        foreach (var peer in table.Keys.Where(p => p != 0))
        {
            SendPeerTable(peer, table);
        }
    }

    private void SendPeerTable(int peer, Dictionary<int, IPEndPoint> table) =>
        Send(peer, MessageKind.PeerTable, table, static (ref MessagePackWriter w, Dictionary<int, IPEndPoint> t) =>
        {
            w.WriteArrayHeader(t.Count);
            foreach (var (id, endpoint) in t.OrderBy(e => e.Key))
            {
                w.WriteArrayHeader(3);
                w.Write(id);
                w.Write(endpoint.Address.ToString());
                w.Write(endpoint.Port);
            }
        });

    private void OnPeerTable(ref MessagePackReader reader)
    {
        var count = reader.ReadArrayHeader();
        var table = new Dictionary<int, IPEndPoint>(count);
        for (var i = 0; i < count; i++)
        {
            if (reader.ReadArrayHeader() != 3)
            {
                throw new InvalidDataException("peer table entry is not [id, host, port]");
            }

            var id = reader.ReadInt32();
            var host = reader.ReadText();
            var port = reader.ReadInt32();
            // Drone 0's own entry is where it listens, which may be every interface: it is reached where it was dialed.
            if (!IPAddress.TryParse(host, out var address) || (id != 0 && !HostRoutes.IsConnectable(address)) || port is <= 0 or > 65535 || id < 0 || id >= Options.MaxDrones)
            {
                throw new InvalidDataException($"peer table entry {id} {host}:{port} is unusable");
            }

            table[id] = id == 0 && _dialed.TryGetValue(0, out var dialed) ? dialed : new IPEndPoint(address, port);
        }

        lock (_membership)
        {
            _peerTable = table;
        }

        _peerTableArrived.Set();
    }

    // ------------------------------------------------------------------ links and failures

    /// <summary>
    /// Puts a handshaken connection to <paramref name="peer"/> under a new link, or (with <paramref name="resume"/>) under
    /// that link, whose connection broke. Returns null, and disposes the connection, when the peer failed, has a link
    /// already (for a new one), or the link to carry on closed meanwhile.
    /// </summary>
    /// <remarks>
    /// On the accepting side, <paramref name="answer"/> writes the acceptor's last word: a refusal when the connection is
    /// not taken, or (from inside <see cref="Link.Attach"/>) the proof that it is, so that both ends agree. A new link
    /// from a peer whose open link here never heard it speak (the peer gave up on that handshake and started anew)
    /// takes that link's place: nothing was taken from it, and what was queued for it goes out on the new connection.
    /// </remarks>
    private Link? Adopt(Socket socket, int peer, LinkSecrets secrets, Link? resume, Action<byte[]?, string?>? answer = null)
    {
        socket.NoDelay = true;
        Link link;
        byte[]? rekey = null;
        string? refusal;
        lock (_membership)
        {
            _links.TryGetValue(peer, out var existing);
            var replaces = answer is not null && resume is null && existing is { IsOpen: true } && !existing.PeerSpoke;
            refusal = _failed.ContainsKey(peer) ? $"drone {peer} was declared failed" :
                _stopping.IsSet ? $"drone {Id} is stopping" :
                resume is null ? existing is { IsOpen: true } && !replaces ? $"drone {peer} already has a link" : null :
                existing != resume || !resume.IsOpen ? $"the link to drone {peer} closed meanwhile" : null;
            if (refusal is null)
            {
                if (replaces)
                {
                    link = existing!;
                    rekey = secrets.ResumeKey;
                }
                else
                {
                    link = resume ?? new Link(this, peer, Options.SendQueueBytes, secrets.ResumeKey);
                    _links[peer] = link;
                }
            }
            else
            {
                link = null!;
            }
        }

        var key = rekey ?? resume?.ResumeKey ?? secrets.ResumeKey;
        if (refusal is not null || !link.Attach(socket, secrets.Cipher, answer is null ? null : () => answer(key, null), rekey))
        {
            refusal ??= $"the link to drone {peer} closed meanwhile";
            try
            {
                answer?.Invoke(null, refusal);
            }
            catch (Exception error) when (error is SocketException or ObjectDisposedException)
            {
                // The connector is gone already.
            }

            socket.Dispose();
            secrets.Cipher?.Dispose();
            return null;
        }

        lock (_membership)
        {
            Monitor.PulseAll(_membership);
        }

        if (resume is null)
        {
            LogLinkUp(_logger, Id, peer);
        }
        else
        {
            LogLinkResumed(_logger, Id, peer, link.Resumes);
            Raise(LinkResumed, h => h(peer));
        }

        return link;
    }

    /// <summary>Whether a link to <paramref name="peer"/> whose connection broke may be carried on by a new one.</summary>
    /// <remarks>
    /// The dialing end always tries (a refusal ends it at once). The waiting end waits only for a peer that spoke the
    /// protocol on the link (<paramref name="peerSpoke"/>: its Resume frame came) or whose address it knows (a drone of
    /// the run, which a reset may have cut off before its first frame was read): a stranger's bad link closes at once.
    /// </remarks>
    internal bool MayResume(int peer, bool peerSpoke) =>
        !_stopping.IsSet && !_leaving && !_failed.ContainsKey(peer) && (Id > peer || peerSpoke || EndpointOf(peer) is not null);

    /// <summary>
    /// The connection under <paramref name="link"/> broke: the drone with the higher id dials again (as it
    /// dialed first), the other waits for it; either way the link closes for good when no new connection carries it
    /// within the failure timeout. A dial that finds nothing listening, or (on the waiting side, for a connection that
    /// ended) a peer whose address refuses connections, is a peer that is gone: the link closes at once.
    /// </summary>
    internal void OnLinkBroken(Link link, string reason, bool endOfStream)
    {
        LogLinkBroken(_logger, Id, link.Peer, reason);
        Raise(LinkBroken, h => h(link.Peer, reason));
        var thread = new Thread(() =>
        {
            try
            {
                Reestablish(link, reason, endOfStream);
            }
            catch (Exception error) when (error is not OutOfMemoryException)
            {
                link.Close($"{reason}; re-establishing failed: {error.Message}");
            }
        })
        {
            IsBackground = true,
            Name = $"hivemind {Id}<->{link.Peer} reconnect",
        };
        thread.Start();
    }

    /// <summary>
    /// Dials a new connection for <paramref name="link"/> beside the one it has, at most once per failure timeout: a
    /// refusal means the peer is gone (the link closes); any other failure leaves the link as it was.
    /// </summary>
    private void TryRedial(Link link, string why)
    {
        if (!link.TryStartRedial((long)Options.FailureTimeout.TotalMilliseconds) || EndpointOf(link.Peer) is not { } endpoint)
        {
            return;
        }

        var peer = link.Peer;
        var thread = new Thread(() =>
        {
            Link.MarkMeshThread(Options.NetworkThreadNice);
            try
            {
                DialAgain(link, endpoint, Options.FailureTimeout / 2, retryHandshake: false);
            }
            catch (MeshException error) when (error.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                link.Close($"{why}; drone {peer} no longer listens at {endpoint}");
            }
            catch (Exception error) when (error is not OutOfMemoryException)
            {
                LogRedialFailed(_logger, Id, peer, why, error.Message);
            }
        })
        {
            IsBackground = true,
            Name = $"hivemind {Id}<->{peer} redial",
        };
        thread.Start();
    }

    /// <summary>Dials <paramref name="link"/>'s peer for a connection that carries the link on; a refusal ends it at once.</summary>
    private void DialAgain(Link link, IPEndPoint endpoint, TimeSpan timeout, bool retryHandshake) =>
        ConnectWith(link.Peer, endpoint, timeout, retryHandshake, refusedFor: TimeSpan.Zero, link,
            socket => (link.Peer, Handshake.Connect(socket, Options, Id, link.Peer, link.ResumeKey)));

    private void Reestablish(Link link, string reason, bool endOfStream)
    {
        Link.MarkMeshThread(Options.NetworkThreadNice);
        var peer = link.Peer;
        var deadline = DateTime.UtcNow + Options.FailureTimeout;
        var endpoint = EndpointOf(peer);
        if (Id > peer)
        {
            if (endpoint is null)
            {
                link.Close($"{reason}; no address to dial drone {peer} again");
                return;
            }

            try
            {
                DialAgain(link, endpoint, Remaining(deadline), retryHandshake: true);
            }
            catch (MeshException error)
            {
                link.Close($"{reason}; not re-established: {error.Message}");
            }

            return;
        }

        if (endOfStream && endpoint is not null && Refuses(endpoint, Remaining(deadline)))
        {
            link.Close($"{reason}; drone {peer} no longer listens at {endpoint}");
            return;
        }

        if (!link.WaitConnected(Remaining(deadline)) && link.IsOpen)
        {
            link.Close($"{reason}; drone {peer} did not re-establish the link within {Options.FailureTimeout.TotalMilliseconds:F0} ms");
        }
    }

    /// <summary>Where <paramref name="peer"/> listens, as this drone knows it: where it dialed it, where it registered, or the peer table.</summary>
    internal IPEndPoint? EndpointOf(int peer)
    {
        if (_dialed.TryGetValue(peer, out var dialed))
        {
            return dialed;
        }

        if (_registered.TryGetValue(peer, out var registered))
        {
            return registered;
        }

        // Peer tables are not changed once published, so one is read without the lock.
        return Volatile.Read(ref _peerTable) is { } table && table.TryGetValue(peer, out var listed) ? listed : null;
    }

    /// <summary>Whether nothing listens at <paramref name="endpoint"/> (a refused connect); a probe that connects is closed at once.</summary>
    private static bool Refuses(IPEndPoint endpoint, TimeSpan timeout)
    {
        using var probe = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            ConnectWithin(probe, endpoint, timeout < TimeSpan.FromSeconds(1) ? timeout : TimeSpan.FromSeconds(1));
            return false;
        }
        catch (SocketException error)
        {
            return error.SocketErrorCode == SocketError.ConnectionRefused;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    internal void OnLinkClosed(Link link, string reason)
    {
        FailPending(link.Peer, reason);

        if (_stopping.IsSet || _leaving)
        {
            return;
        }

        // A peer that failed stays failed: it may only come back by joining again (a new view, later).
        if (_failed.TryAdd(link.Peer, reason))
        {
            LogPeerFailed(_logger, Id, link.Peer, reason);
            Raise(PeerFailed, h => h(link.Peer, reason));
        }
    }

    private void FailPending(int peer, string reason)
    {
        foreach (var (id, pending) in _pending)
        {
            if (pending.Peer == peer && _pending.TryRemove(id, out _))
            {
                pending.Timer?.Dispose();
                pending.Completion.TrySetException(new MeshException(
                    $"drone {Id}: {MessageKind.Name(pending.Kind)} to drone {peer} failed: link closed ({reason})"));
            }
        }
    }

    /// <summary>For tests: runs before each accept, and may throw what an accept can (out of descriptors, say).</summary>
    internal Action? BeforeAccept { get; set; }

    private void AcceptLoop()
    {
        Link.MarkMeshThread(Options.NetworkThreadNice);
        while (!_stopping.IsSet)
        {
            Socket socket;
            try
            {
                BeforeAccept?.Invoke();
                socket = _listener.Accept();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (Exception error) when (error is not OutOfMemoryException)
            {
                // Out of file descriptors, a connection reset before it was taken: accepting goes on.
                if (!_stopping.IsSet)
                {
                    LogAcceptFailed(_logger, Id, error.Message);
                    _stopping.Wait(TimeSpan.FromMilliseconds(50));
                }

                continue;
            }

            // Handshakes run apart, without a thread each while they wait, so that a slow or idle connector holds up
            // nobody else; a connection that has not proven the key makes room for newer ones when there are too many.
            try
            {
                var pending = Admit(socket);
                _ = AcceptOneAsync(pending);
            }
            catch (Exception error) when (error is not OutOfMemoryException)
            {
                // A connection reset before it was looked at (its address is gone), or out of resources: it goes, and
                // accepting goes on.
                socket.Dispose();
                if (!_stopping.IsSet)
                {
                    LogAcceptFailed(_logger, Id, $"{error.GetType().Name}: {error.Message}");
                }
            }
        }
    }

    /// <summary>
    /// Notes a connection whose handshake starts now. When there are more than the caps (all of them, or from its
    /// source address), the oldest ones not yet authenticated are dropped first: a stranger's idle connections go before
    /// a drone's fresh one, whose handshake takes a round trip.
    /// </summary>
    private PendingHandshake Admit(Socket socket)
    {
        var source = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        var pending = new PendingHandshake(socket, source, Options.HandshakeTimeout);
        var dropped = new List<PendingHandshake>();
        lock (_handshakes)
        {
            _handshakes.AddLast(pending);
            while (_handshakes.Count(h => h.Source.Equals(source)) > Options.MaxPendingHandshakesPerSource)
            {
                var oldest = _handshakes.First(h => h.Source.Equals(source));
                _handshakes.Remove(oldest);
                dropped.Add(oldest);
            }

            while (_handshakes.Count > Options.MaxPendingHandshakes)
            {
                dropped.Add(_handshakes.First!.Value);
                _handshakes.RemoveFirst();
            }
        }

        foreach (var old in dropped)
        {
            old.Drop("too many connections waiting to prove the key: the oldest go first");
        }

        return pending;
    }

    private async Task AcceptOneAsync(PendingHandshake pending)
    {
        var socket = pending.Socket;
        LinkCipher? cipher = null;
        Handshake.Accepted? accepted = null;
        var answered = false;
        try
        {
            socket.NoDelay = true;
            accepted = await Handshake.AcceptAsync(socket, Options, Id, pending.Token).ConfigureAwait(false);
            cipher = accepted.Secrets.Cipher;
            var peer = accepted.Peer;
            if (peer == Newcomer)
            {
                var (assigned, refusal) = AssignNewcomer();
                Handshake.Welcome(socket, assigned, Options.MaxDrones, refusal);
                if (refusal is not null)
                {
                    answered = true; // the welcome said why
                    throw new InvalidDataException($"newcomer refused: {refusal}");
                }

                peer = assigned;
            }

            if (_failed.TryGetValue(peer, out var why))
            {
                throw new InvalidDataException($"drone {peer} was declared failed ({why}) and must join again");
            }

            if (!IsAssigned(peer))
            {
                throw new InvalidDataException($"drone {peer} is not a drone of the run, nor one drone 0 gave that id");
            }

            // A connection that proves the link's resume key carries that link on (its old connection broke, perhaps
            // before this side noticed); any other claim of a linked drone's id is refused.
            Link? resume = null;
            if (accepted.ResumeProof is not null)
            {
                if (!_links.TryGetValue(peer, out resume) || !resume.IsOpen || !accepted.Resumes(resume.ResumeKey))
                {
                    throw new InvalidDataException($"drone {peer} asked to carry on a link it does not have");
                }
            }

            if (!pending.Authenticated())
            {
                throw new InvalidDataException(pending.DropReason ?? "the handshake was dropped");
            }

            // The connector takes the link only on the answer, which Adopt gives (a refusal, or the proof from inside
            // Attach), so both ends agree on whether the link exists.
            answered = true;
            var refused = (string?)null;
            if (Adopt(socket, peer, accepted.Secrets, resume, (key, refusal) =>
                {
                    refused = refusal;
                    accepted.Answer(socket, key, refusal);
                }) is null)
            {
                cipher = null; // disposed by Adopt
                throw new InvalidDataException(refused ?? $"drone {peer}: the connection was not taken");
            }
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException or OperationCanceledException || MalformedInput.Is(error))
        {
            cipher?.Dispose();
            var reason = pending.DropReason ?? (error is OperationCanceledException ? "the handshake took longer than its deadline" : error.Message);
            if (accepted is not null && !answered)
            {
                try
                {
                    accepted.Answer(socket, null, reason);
                }
                catch (Exception answer) when (answer is SocketException or ObjectDisposedException)
                {
                    // The connector is gone already.
                }
            }

            Interlocked.Increment(ref _rejectedConnections);
            LogRejected(_logger, Id, pending.Remote, reason);
            socket.Dispose();
            Raise(ConnectionRejected, h => h(reason));
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // Anything else (a bug, an encoding error): the connection goes, logged, and nothing else does.
            cipher?.Dispose();
            Interlocked.Increment(ref _rejectedConnections);
            LogRejected(_logger, Id, pending.Remote, $"{error.GetType().Name}: {error.Message}");
            socket.Dispose();
        }
        finally
        {
            lock (_handshakes)
            {
                _handshakes.Remove(pending);
            }

            pending.Dispose();
        }
    }

    /// <summary>A connection that has not yet proven the key: its whole handshake has a deadline, and it can be dropped.</summary>
    private sealed class PendingHandshake : IDisposable
    {
        private readonly CancellationTokenSource _deadline;
        private int _state; // 0 waiting, 1 authenticated, 2 dropped, 3 ended

        public PendingHandshake(Socket socket, IPAddress source, TimeSpan deadline)
        {
            Socket = socket;
            Source = source;
            Remote = socket.RemoteEndPoint?.ToString() ?? "?";
            _deadline = new CancellationTokenSource(deadline);
        }

        public Socket Socket { get; }

        public IPAddress Source { get; }

        public string Remote { get; }

        public CancellationToken Token => _deadline.Token;

        public string? DropReason { get; private set; }

        /// <summary>Ends the handshake, unless it has proven the key already or has ended.</summary>
        public void Drop(string reason)
        {
            lock (this)
            {
                if (_state != 0)
                {
                    return;
                }

                _state = 2;
                DropReason = reason;
                _deadline.Cancel();
            }

            Socket.Dispose();
        }

        /// <summary>Marks the key proven; false when the connection was dropped first.</summary>
        public bool Authenticated()
        {
            lock (this)
            {
                if (_state != 0)
                {
                    return false;
                }

                _state = 1;
                return true;
            }
        }

        public void Dispose()
        {
            lock (this)
            {
                _state = Math.Max(_state, 3);
                _deadline.Dispose();
            }
        }
    }

    private void HeartbeatLoop()
    {
        if (Link.MarkMeshThread(Options.NetworkThreadNice) is > 0 and var errno)
        {
            LogNiceRefused(_logger, Id, Options.NetworkThreadNice, errno);
        }

        var interval = Options.HeartbeatInterval;
        var timeout = (long)Options.FailureTimeout.TotalMilliseconds;

        // Checks come at least every 25 ms, so that silence (two checks in a row) is found within 50 ms of the failure timeout.
        var check = TimeSpan.FromTicks(Math.Min(interval.Ticks / 2, TimeSpan.FromMilliseconds(25).Ticks));
        while (!_stopping.Wait(check))
        {
            var now = Environment.TickCount64;
            foreach (var link in _links.Values)
            {
                if (!link.IsConnected)
                {
                    // Closed, or a broken connection being replaced (which has a deadline of its own).
                    link.SilentChecks = 0;
                    continue;
                }

                // Silence counts only while this side has looked: a receive loop busy with frames, or bytes waiting in
                // the socket, mean the peer may well have spoken.
                var silent = now - link.LastHeard;
                var listening = !link.MayHaveUnreadNews;
                if (listening)
                {
                    link.Counters.NoteSilence(silent);
                }

                link.SilentChecks = silent > timeout && listening ? link.SilentChecks + 1 : 0;
                if (silent > timeout / 2 && listening && Id > link.Peer)
                {
                    // Half a failure timeout of silence: the path may have lost the connection without either end
                    // hearing of it. The dialing end tries a new one beside it; if it takes, the link goes on over it.
                    TryRedial(link, $"silent for {silent} ms");
                }

                if (link.SilentChecks == 0)
                {
                    link.SilenceReported = 0;
                }
                else if (silent >= Options.SendStallTimeout.TotalMilliseconds && link.SilentChecks >= 2 && !_failed.ContainsKey(link.Peer))
                {
                    // Still silent after four failure timeouts, while whoever decides has not removed the peer: the two
                    // ends cannot talk (the decider may well hear both). The link closes, which is news it acts on.
                    link.Close($"silent for {silent} ms: cut off (over {Options.SendStallTimeout.TotalMilliseconds:F0} ms)");
                    continue;
                }
                else if (link.SilentChecks >= 2 && silent / timeout > link.SilenceReported && !_failed.ContainsKey(link.Peer))
                {
                    // Silent on two checks in a row (a receive loop that was just between draining the socket and noting
                    // the bytes cannot pass for silence): reported once per failure timeout of silence. The link stays
                    // up: a silent peer may be a slow one, and whoever decides removes it.
                    link.SilenceReported = silent / timeout;
                    LogPeerSilent(_logger, Id, link.Peer, silent, timeout);
                    Raise(PeerSilent, h => h(link.Peer, silent));
                }

                if (now - link.LastSent >= interval.TotalMilliseconds / 2 || link.OwesAck((long)interval.TotalMilliseconds / 2))
                {
                    link.SendAck();
                }
            }
        }
    }

    /// <summary>
    /// Ends this node's part with <paramref name="peer"/> for good (the run removed it): nothing it sends is taken from
    /// now on, requests waiting for it fail, it may not link again, and its link closes once what is queued for it (the
    /// news of its removal) had a failure timeout to go out.
    /// </summary>
    public void Disconnect(int peer, string reason)
    {
        _failed.TryAdd(peer, reason);
        FailPending(peer, reason);
        if (_links.TryGetValue(peer, out var link) && link.IsOpen)
        {
            link.CloseWhenFlushed(reason, Options.FailureTimeout);
        }
    }

    /// <summary>
    /// Marks the end of the run: links that close from now on are the peers leaving too, not failures, so
    /// they are neither reported nor logged as such.
    /// </summary>
    public void Leave() => _leaving = true;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping.Set();
        _listener.Dispose();
        List<PendingHandshake> handshakes;
        lock (_handshakes)
        {
            handshakes = [.. _handshakes];
        }

        foreach (var pending in handshakes)
        {
            pending.Drop("node stopped");
        }

        foreach (var link in _links.Values)
        {
            link.Close("node stopped");
        }

        foreach (var link in _links.Values)
        {
            link.Join(TimeSpan.FromSeconds(5));
        }

        _acceptor.Join(TimeSpan.FromSeconds(5));
        _heartbeat.Join(TimeSpan.FromSeconds(5));
        foreach (var (_, pending) in _pending)
        {
            pending.Timer?.Dispose();
            pending.Completion.TrySetException(new MeshException($"drone {Id}: node stopped"));
        }
    }

    /// <summary>Runs the handlers of an event; one that throws is logged, and never takes a mesh thread down.</summary>
    private void Raise<THandler>(THandler? handlers, Action<THandler> invoke)
        where THandler : Delegate
    {
        if (handlers is null)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList().Cast<THandler>())
        {
            try
            {
                invoke(handler);
            }
            catch (Exception error) when (error is not OutOfMemoryException)
            {
                LogHandlerFailed(_logger, Id, error.GetType().Name, error.Message);
            }
        }
    }

    private static TimeSpan Remaining(DateTime deadline)
    {
        var left = deadline - DateTime.UtcNow;
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private sealed class PendingRequest(int peer, byte kind)
    {
        public int Peer { get; } = peer;

        public byte Kind { get; } = kind;

        public TaskCompletionSource<Reply> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Timer? Timer { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "drone {DroneId}: the mesh's threads keep the process's priority: nice {Nice} was refused (errno {Errno}; lowering it needs CAP_SYS_NICE)")]
    private static partial void LogNiceRefused(ILogger logger, int droneId, int nice, int errno);

    [LoggerMessage(Level = LogLevel.Debug, Message = "drone {DroneId}: link to drone {Peer} is up")]
    private static partial void LogLinkUp(ILogger logger, int droneId, int peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: the connection to drone {Peer} broke ({Reason}); re-establishing the link")]
    private static partial void LogLinkBroken(ILogger logger, int droneId, int peer, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "drone {DroneId}: a handler of a mesh event failed: {Type}: {Reason}")]
    private static partial void LogHandlerFailed(ILogger logger, int droneId, string type, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "drone {DroneId}: a new connection to drone {Peer} ({Why}) did not take: {Reason}")]
    private static partial void LogRedialFailed(ILogger logger, int droneId, int peer, string why, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "drone {DroneId}: the link to drone {Peer} goes on over a new connection (break {Resumes}); nothing sent was lost")]
    private static partial void LogLinkResumed(ILogger logger, int droneId, int peer, int resumes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: drone {Peer} has been silent for {SilentMs} ms (failure timeout {TimeoutMs} ms)")]
    private static partial void LogPeerSilent(ILogger logger, int droneId, int peer, long silentMs, long timeoutMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: drone {Peer} failed: {Reason}")]
    private static partial void LogPeerFailed(ILogger logger, int droneId, int peer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId} (joining): drone {Peer} cannot be reached, skipped: {Reason}")]
    private static partial void LogPeerSkipped(ILogger logger, int droneId, int peer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: rejected connection from {Remote}: {Reason}")]
    private static partial void LogRejected(ILogger logger, int droneId, string remote, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "drone {DroneId}: connect to drone {Peer} at {Endpoint} failed, retrying: {Reason}")]
    private static partial void LogConnectRetry(ILogger logger, int droneId, int peer, IPEndPoint endpoint, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "drone {DroneId}: could not answer request {RequestId} of drone {Peer}: {Reason}")]
    private static partial void LogReplyFailed(ILogger logger, int droneId, int peer, ulong requestId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: accepting a connection failed, accepting goes on: {Reason}")]
    private static partial void LogAcceptFailed(ILogger logger, int droneId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: refused a reply from drone {Peer} to request {RequestId}, which went to drone {Asked}")]
    private static partial void LogForeignReply(ILogger logger, int droneId, int peer, ulong requestId, int asked);

    [LoggerMessage(Level = LogLevel.Debug, Message = "drone {DroneId}: reply {RequestId} from drone {Peer} came after its request ended")]
    private static partial void LogLateReply(ILogger logger, int droneId, int peer, ulong requestId);
}
