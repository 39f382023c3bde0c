using HiveMind.Allocation;
using HiveMind.Consistency;
using HiveMind.Net.Transport;
using MessagePack;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HiveMind.Wire;

/// <summary>
/// The protocol engine's "other drones" over the mesh: messages become frames through <see cref="ProtocolCodec"/>;
/// incoming frames are decoded on the link's receive thread. One-way messages go to the engine there (it never waits
/// on the network there: what it sends is queued); requests are answered by the link's send side as it drains, so a
/// drone makes replies only as fast as their asker reads them. A drone's Malloc and Free are requests to drone 0, whose
/// allocator serves them (<see cref="AllocationCodec"/>).
/// </summary>
internal sealed partial class MeshNetwork : IDroneNetwork, IFrameConsumer
{
    // How often a wait for a reply looks whether the run stopped for this drone.
    private static readonly TimeSpan AbortCheck = TimeSpan.FromMilliseconds(250);

    /// <summary>Default bytes of replies one drone awaits from one peer at a time.</summary>
    public const long DefaultWindowBytes = 8L << 20;

    private readonly TimeSpan _waitLimit;
    private readonly ILogger _logger;
    private readonly long _windowBytes;
    private int _drones;
    private LrcEngine? _engine;

    // The barrier manager's last releases' VTs, which arrivals give their VTs against (the engine's; null elsewhere).
    private Func<int, int[]?>? _releases;
    private MeshNode? _node;

    /// <summary>
    /// A network for a run of <paramref name="drones"/> slots. A request waits for its reply as long as the link to
    /// its peer is open, or at most <paramref name="waitLimit"/> when one is given. At most <paramref name="windowBytes"/>
    /// of replies (as far as requests tell) are awaited from one peer at a time; the rest of a batch follows as they come.
    /// </summary>
    public MeshNetwork(int drones, TimeSpan? waitLimit = null, ILogger? logger = null, long windowBytes = DefaultWindowBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(windowBytes);
        _drones = drones;
        _waitLimit = waitLimit ?? Timeout.InfiniteTimeSpan;
        _logger = logger ?? NullLogger.Instance;
        _windowBytes = windowBytes;
    }

    /// <summary>Connects the two ends: the node that carries frames and the engine that handles them.</summary>
    public void Attach(MeshNode node, LrcEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _node = node;
        _engine = engine;
        _drones = engine.Drones; // a newcomer learns the run's size only as it joins
        _releases = engine.ReleaseTimestamp;
    }

    public void Send(int drone, ProtocolMessage message)
    {
        if (drone == Node.Id)
        {
            // To this drone: handled at once on the calling thread, as the engine expects of a network thread.
            Engine.Handle(drone, message);
            return;
        }

        // Lock requests, grants and barrier messages are lone and on someone's critical path: written at once when the
        // link is idle (as far as the socket takes them without blocking), else queued.
        try
        {
            Node.Send(drone, ProtocolCodec.KindOf(message), message, static (ref MessagePackWriter w, ProtocolMessage m) => ProtocolCodec.Write(ref w, m), inline: true);
        }
        catch (MeshException error) when (Node.GetLink(drone) is null)
        {
            throw Unreachable(drone, error);
        }
    }

    public IReadOnlyList<ProtocolMessage> RequestAll(IReadOnlyList<(int Drone, ProtocolMessage Request)> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (Link.OnMeshThread)
        {
            throw new InvalidOperationException($"drone {Node.Id}: a mesh thread may not wait for replies ({requests.Count} request(s)).");
        }

        if (requests.Count == 1)
        {
            // The common miss: one writer.
            return [Await(requests[0], StartRequest(requests[0].Drone, requests[0].Request))];
        }

        // A window per peer: a request goes out when the replies still awaited from its peer leave room for it. Peers
        // are served in turn, so that one whose window is full does not hold back the requests to the others.
        var replies = new ProtocolMessage?[requests.Count];
        var tasks = new Task<Reply>?[requests.Count];
        var unsent = new Dictionary<int, Queue<int>>();
        for (var i = 0; i < requests.Count; i++)
        {
            (unsent.TryGetValue(requests[i].Drone, out var queue) ? queue : unsent[requests[i].Drone] = new Queue<int>()).Enqueue(i);
        }

        var inFlight = unsent.Keys.ToDictionary(d => d, _ => new Queue<int>());
        var awaited = unsent.Keys.ToDictionary(d => d, _ => 0L);
        var left = requests.Count;
        while (left > 0)
        {
            var sent = false;
            foreach (var (drone, queue) in unsent)
            {
                if (queue.Count == 0)
                {
                    continue;
                }

                var next = queue.Peek();
                var expected = ExpectedReplyBytes(requests[next].Request);
                if (inFlight[drone].Count > 0 && awaited[drone] + expected > _windowBytes)
                {
                    continue;
                }

                queue.Dequeue();
                tasks[next] = StartRequest(drone, requests[next].Request);
                inFlight[drone].Enqueue(next);
                awaited[drone] += expected;
                left--;
                sent = true;
            }

            if (!sent)
            {
                // Every peer with requests left has a full window: wait for the oldest reply awaited from any of them.
                var oldest = inFlight.Where(f => f.Value.Count > 0 && unsent[f.Key].Count > 0).Select(f => f.Value.Peek()).Min();
                var drone = requests[oldest].Drone;
                inFlight[drone].Dequeue();
                replies[oldest] = Await(requests[oldest], tasks[oldest]!);
                awaited[drone] -= ExpectedReplyBytes(requests[oldest].Request);
            }
        }

        for (var i = 0; i < requests.Count; i++)
        {
            replies[i] ??= Await(requests[i], tasks[i]!);
        }

        return replies!;
    }

    public bool IsLinked(int drone) => Node.GetLink(drone) is not null;

    public bool IsKnownKind(byte kind) =>
        (ProtocolCodec.IsProtocolKind(kind) && !ProtocolCodec.IsReplyKind(kind))
        || kind is ProtocolCodec.RunReportKind or ProtocolCodec.AllocateRequestKind or ProtocolCodec.FreeRequestKind or ProtocolCodec.ConditionWakeKind;

    /// <summary>
    /// The allocator of this drone: on drone 0 the run's, which serves the other drones' Malloc and Free; on every drone,
    /// its range (the heap) bounds what a request may ask and what a reply may give.
    /// </summary>
    internal SharedAllocator? Allocator { get; set; }

    /// <summary>Asks drone 0 for a block (a Malloc on this drone, whose arguments the caller checked); returns its address.</summary>
    /// <exception cref="SharedHeapExhaustedException">Drone 0's allocator has no free block that holds it.</exception>
    /// <exception cref="InvalidDataException">Drone 0's reply is not one.</exception>
    internal long Allocate(long bytes, int alignment)
    {
        var request = new AllocateRequest(bytes, alignment);
        var reply = AskAllocator(ProtocolCodec.AllocateRequestKind, request, static (ref MessagePackWriter w, AllocateRequest r) => AllocationCodec.Write(ref w, r));
        var answer = AllocationCodec.ReadReply(reply.Body, request, HeapSize);
        return answer.Refusal is { } refusal ? throw refusal.ToException() : answer.Address;
    }

    /// <summary>Asks drone 0 to free the block at <paramref name="address"/> (a Free on this drone, whose argument the caller checked).</summary>
    /// <exception cref="InvalidOperationException">The block was freed already.</exception>
    /// <exception cref="ArgumentException">No block starts at the address.</exception>
    /// <exception cref="InvalidDataException">Drone 0's reply is not one.</exception>
    internal void Free(long address)
    {
        var request = new FreeRequest(address);
        var reply = AskAllocator(ProtocolCodec.FreeRequestKind, request, static (ref MessagePackWriter w, FreeRequest r) => AllocationCodec.Write(ref w, r));
        if (AllocationCodec.ReadReply(reply.Body, request).Refusal is { } refusal)
        {
            throw refusal.ToException();
        }
    }

    private Reply AskAllocator<TState>(byte kind, TState request, BodyWriter<TState> body)
    {
        if (Link.OnMeshThread)
        {
            throw new InvalidOperationException($"drone {Node.Id}: a mesh thread may not wait for drone 0's reply to its {ProtocolCodec.Name(kind)}.");
        }

        Task<Reply> task;
        try
        {
            task = Node.RequestAsync(0, kind, request, body, Timeout.InfiniteTimeSpan);
        }
        catch (MeshException error)
        {
            task = Task.FromException<Reply>(error);
        }

        try
        {
            // Not bounded by --wait-limit: a request that timed out here would still be carried out on drone 0 (a block
            // leaked, or freed behind the caller's back). It ends when drone 0 answers, leaves, or the run stops.
            return WaitFor(0, ProtocolCodec.Name(kind), task, limited: false);
        }
        catch (MeshException error) when (Node.GetLink(0) is not null)
        {
            // Drone 0 answered with an error of the mesh's, not a refusal of its allocator's: it would not serve this drone.
            throw new InvalidOperationException($"Drone {Node.Id}: drone 0 did not serve its {ProtocolCodec.Name(kind)}: {error.Message}", error);
        }
    }

    private long HeapSize => (Allocator ?? throw new InvalidOperationException("The mesh network has no allocator.")).End;

    /// <summary>The run's condition ids are 0 .. this - 1: a wake naming another is malformed.</summary>
    internal int Conditions { get; set; }

    /// <summary>Raised on the receive thread with each <see cref="ConditionWake"/> a peer sends (the handler must not throw or wait).</summary>
    internal event Action<int, ConditionWake>? ConditionWakeArrived;

    /// <summary>Sends a wake to a drone one of whose threads waits on a condition (lone and on the waiter's critical path: written at once when the link is idle).</summary>
    /// <exception cref="DroneUnreachableException">The drone has no link.</exception>
    /// <exception cref="MeshException">The link did not take the frame.</exception>
    internal void SendConditionWake(int drone, ConditionWake wake)
    {
        try
        {
            Node.Send(drone, ProtocolCodec.ConditionWakeKind, wake, static (ref MessagePackWriter w, ConditionWake m) => ConditionWake.Write(ref w, m), inline: true);
        }
        catch (MeshException error) when (Node.GetLink(drone) is null)
        {
            throw Unreachable(drone, error);
        }
    }

    /// <summary>On drone 0: raised on the receive thread with each drone's report of its run as it leaves.</summary>
    internal event Action<int, RunReport>? ReportArrived;

    /// <summary>Sends this drone's report of its run to drone 0 (queued behind what the link already carries).</summary>
    internal void SendReport(RunReport report)
    {
        try
        {
            Node.Send(0, ProtocolCodec.RunReportKind, report, static (ref MessagePackWriter w, RunReport r) => RunReport.Write(ref w, r));
        }
        catch (MeshException error) when (Node.GetLink(0) is null)
        {
            throw Unreachable(0, error);
        }
    }

    public void OnFrame(MeshNode node, int peer, byte kind, ulong requestId, ref MessagePackReader body)
    {
        ArgumentNullException.ThrowIfNull(node);

        if (kind is ProtocolCodec.AllocateRequestKind or ProtocolCodec.FreeRequestKind)
        {
            OnAllocationRequest(node, peer, kind, requestId, ref body);
            return;
        }

        if (kind == ProtocolCodec.RunReportKind)
        {
            // Reports go to drone 0 only, one-way; anything else is the peer's fault (the exception closes its link).
            if (node.Id != 0 || requestId != 0)
            {
                throw new InvalidDataException($"drone {peer} sent a RunReport {(requestId != 0 ? "as a request" : $"to drone {node.Id}, not drone 0")}");
            }

            ReportArrived?.Invoke(peer, RunReport.Read(ref body, _drones));
            return;
        }

        if (kind == ProtocolCodec.ConditionWakeKind)
        {
            // One-way; a wake that does not decode (or names no condition of the run) is the peer's fault and closes its link.
            if (requestId != 0)
            {
                throw new InvalidDataException($"drone {peer} sent a ConditionWake as a request");
            }

            var wake = ConditionWake.Read(ref body, Conditions);
            try
            {
                ConditionWakeArrived?.Invoke(peer, wake);
            }
            catch (Exception error) when (error is not OutOfMemoryException)
            {
                LogHandlerFailed(_logger, node.Id, nameof(ConditionWake), peer, error.Message);
            }

            return;
        }

        // A frame that does not decode is the peer's fault: the exception closes its link. What the engine makes of a
        // well-formed message is not: its errors are logged (and answered, for a request), and the link stays up.
        var message = ProtocolCodec.Read(kind, ref body, _drones, _releases);
        if (requestId != 0)
        {
            Serve(node, peer, requestId, message);
            return;
        }

        try
        {
            Engine.Handle(peer, message);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            LogHandlerFailed(_logger, node.Id, message.GetType().Name, peer, error.Message);
        }
    }

    /// <summary>
    /// A Malloc or Free of <paramref name="peer"/>: drone 0 serves it with its allocator when the link's send side gets to
    /// it (a request whose reply cannot go out is never carried out). A request that does not decode, one to a drone
    /// other than 0 and one of a drone outside the run are refused with an error reply that says why (and logged), and
    /// the link stays up; the allocator's own refusals (a full heap, a double free) are replies the asker throws.
    /// </summary>
    private void OnAllocationRequest(MeshNode node, int peer, byte kind, ulong requestId, ref MessagePackReader body)
    {
        var name = ProtocolCodec.Name(kind);
        if (requestId == 0)
        {
            // As any frame that may not come: the peer's fault, and the exception closes its link.
            throw new InvalidDataException($"drone {peer} sent {name} one-way, but it is a request");
        }

        var allocator = Allocator;
        object? request = null;
        string? refused = null;
        try
        {
            var heapSize = allocator?.End ?? long.MaxValue;
            request = kind == ProtocolCodec.AllocateRequestKind
                ? AllocationCodec.ReadAllocateRequest(ref body, heapSize)
                : AllocationCodec.ReadFreeRequest(ref body, heapSize);
        }
        catch (InvalidDataException error)
        {
            refused = $"{error.Message}; the {name} of drone {peer} is refused";
        }

        if (refused is null && (node.Id != 0 || allocator is null))
        {
            refused = $"drone {node.Id} is not the run's allocator (drone 0 is); the {name} of drone {peer} is refused";
        }
        else if (refused is null && (_engine is not { } engine || !engine.View.Contains(peer)))
        {
            refused = $"drone {peer} is not in the run (view {_engine?.View.Number}); its {name} is refused";
        }

        node.Serve(peer, requestId, () =>
        {
            if (refused is not null)
            {
                throw new InvalidDataException(refused); // logged, and answered with an error reply
            }

            var reply = request switch
            {
                AllocateRequest a => allocator!.TryMalloc(a.Bytes, a.Alignment, out var address) is { } refusal ? new AllocationReply(0, refusal) : new AllocationReply(address, null),
                FreeRequest f => new AllocationReply(f.Address, allocator!.TryFree(f.Address)),
                _ => throw new InvalidOperationException($"no allocation request of kind {kind}"),
            };
            return MeshNode.BuildReply(requestId, reply, static (ref MessagePackWriter w, AllocationReply r) => AllocationCodec.Write(ref w, r));
        });
    }

    /// <summary>Answers a request when the link's send side gets to it; one that must wait (its asker is not yet admitted here) is served again when the engine can.</summary>
    private void Serve(MeshNode node, int peer, ulong requestId, ProtocolMessage request) =>
        node.Serve(peer, requestId, () =>
        {
            var reply = Engine.Serve(peer, request, () => Serve(node, peer, requestId, request));
            return reply is null
                ? null
                : MeshNode.BuildReply(requestId, reply, static (ref MessagePackWriter w, ProtocolMessage m) => ProtocolCodec.Write(ref w, m), ProtocolCodec.SizeHint(reply));
        });

    private ProtocolMessage Await((int Drone, ProtocolMessage Request) request, Task<Reply> task) =>
        ProtocolCodec.Read(ProtocolCodec.ReplyKindOf(request.Request), WaitFor(request.Drone, request.Request.GetType().Name, task).Body, _drones);

    /// <summary>The reply to a request of <paramref name="what"/> to <paramref name="drone"/>: awaited as long as the link is open (or, <paramref name="limited"/>, the wait limit), unless the run stops for this drone meanwhile.</summary>
    private Reply WaitFor(int drone, string what, Task<Reply> task, bool limited = true)
    {
        try
        {
            var deadline = _waitLimit == Timeout.InfiniteTimeSpan || !limited ? DateTime.MaxValue : DateTime.UtcNow + _waitLimit;
            while (!task.Wait(AbortCheck))
            {
                if (Engine.AbortReason is { } reason)
                {
                    throw new RunAbortedException($"Drone {Node.Id} cannot go on: {reason}.");
                }

                if (DateTime.UtcNow >= deadline)
                {
                    throw new TimeoutException(
                        $"drone {Node.Id}: no reply from drone {drone} to {what} within {_waitLimit.TotalSeconds:0.###} s (--wait-limit)");
                }
            }

            return task.GetAwaiter().GetResult();
        }
        catch (AggregateException error) when (error.InnerException is MeshException inner)
        {
            throw Node.GetLink(drone) is null ? Unreachable(drone, inner) : inner;
        }
        catch (MeshException error) when (Node.GetLink(drone) is null)
        {
            throw Unreachable(drone, error);
        }
    }

    /// <summary>About how many bytes the reply to <paramref name="request"/> holds, for the window: a page a page asked for, or a diff reply at most the engine's reply budget.</summary>
    private long ExpectedReplyBytes(ProtocolMessage request) => ExpectedReplyBytes(request, Engine.PageSize, Engine.MaxReplyBytes, _drones);

    /// <summary>
    /// About how many bytes the reply to <paramref name="request"/> holds in a run of <paramref name="drones"/> slots with
    /// pages of <paramref name="pageSize"/> bytes and a reply budget of <paramref name="maxReplyBytes"/>: a page and a
    /// copy's overhead a page asked for, or a diff reply of a page an interval, at most the budget (internal: the tests pin it).
    /// </summary>
    internal static long ExpectedReplyBytes(ProtocolMessage request, int pageSize, long maxReplyBytes, int drones) => request switch
    {
        PageRequest pages => pages.Pages.Length * (pageSize + LrcEngine.PageCopyOverhead(drones)),
        DiffRequest diffs => Math.Min(maxReplyBytes, diffs.Pages.Sum(p => (long)p.Intervals.Length * (pageSize + 32L))),
        _ => 1024,
    };

    private Task<Reply> StartRequest(int drone, ProtocolMessage request)
    {
        try
        {
            return Node.RequestAsync(drone, ProtocolCodec.KindOf(request), request, static (ref MessagePackWriter w, ProtocolMessage m) => ProtocolCodec.Write(ref w, m), Timeout.InfiniteTimeSpan);
        }
        catch (MeshException error)
        {
            return Task.FromException<Reply>(error);
        }
    }

    private static DroneUnreachableException Unreachable(int drone, MeshException error) =>
        new($"drone {drone} cannot be reached: {error.Message}", error) { Drone = drone };

    private MeshNode Node => _node ?? throw new InvalidOperationException("The mesh network is not attached to a node.");

    private LrcEngine Engine => _engine ?? throw new InvalidOperationException("The mesh network is not attached to an engine.");

    [LoggerMessage(Level = LogLevel.Error, Message = "drone {DroneId}: handling {Message} from drone {Peer} failed (the link stays up): {Reason}")]
    private static partial void LogHandlerFailed(ILogger logger, int droneId, string message, int peer, string reason);
}
