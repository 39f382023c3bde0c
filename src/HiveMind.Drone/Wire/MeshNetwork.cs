using HiveMind.Consistency;
using HiveMind.Net.Codec;
using HiveMind.Net.Transport;

namespace HiveMind.Wire;

/// <summary>
/// The protocol engine's "other drones" over the mesh: messages become frames through <see cref="ProtocolCodec"/>;
/// incoming frames are decoded on the link's receive thread and handed to the engine, whose replies answer requests.
/// </summary>
public sealed class MeshNetwork : IDroneNetwork, IFrameConsumer
{
    private int _drones;
    private readonly TimeSpan _requestTimeout;
    private LrcEngine? _engine;
    private MeshNode? _node;

    public MeshNetwork(int drones, TimeSpan requestTimeout)
    {
        _drones = drones;
        _requestTimeout = requestTimeout;
    }

    /// <summary>Connects the two ends: the node that carries frames and the engine that handles them.</summary>
    public void Attach(MeshNode node, LrcEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _node = node;
        _engine = engine;
        _drones = engine.Drones; // a newcomer learns the run's size only as it joins
    }

    public void Send(int drone, ProtocolMessage message)
    {
        if (drone == Node.Id)
        {
            // To this drone: handled at once on the calling thread, as the engine expects of a network thread.
            Engine.Handle(drone, message);
            return;
        }

        // Lock requests, grants and barrier messages are lone and on someone's critical path: send them inline.
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
        if (requests.Count == 1)
        {
            // The common miss: one writer. A blocking request needs no timer.
            var (drone, request) = requests[0];
            Reply single;
            try
            {
                single = Node.Request(drone, ProtocolCodec.KindOf(request), request, static (ref MessagePackWriter w, ProtocolMessage m) => ProtocolCodec.Write(ref w, m), _requestTimeout);
            }
            catch (MeshException error) when (Node.GetLink(drone) is null)
            {
                throw Unreachable(drone, error);
            }

            return [ProtocolCodec.Read(ProtocolCodec.ReplyKindOf(request), single.Body, _drones)];
        }

        var tasks = requests.Select(r => StartRequest(r.Drone, r.Request)).ToArray();
        var replies = new ProtocolMessage[tasks.Length];
        for (var i = 0; i < tasks.Length; i++)
        {
            Reply reply;
            try
            {
                reply = tasks[i].GetAwaiter().GetResult();
            }
            catch (MeshException error) when (Node.GetLink(requests[i].Drone) is null)
            {
                throw Unreachable(requests[i].Drone, error);
            }

            replies[i] = ProtocolCodec.Read(ProtocolCodec.ReplyKindOf(requests[i].Request), reply.Body, _drones);
        }

        return replies;
    }

    public bool IsKnownKind(byte kind) => ProtocolCodec.IsProtocolKind(kind) && !ProtocolCodec.IsReplyKind(kind);

    public void OnFrame(MeshNode node, int peer, byte kind, ulong requestId, ref MessagePackReader body)
    {
        ArgumentNullException.ThrowIfNull(node);
        var message = ProtocolCodec.Read(kind, ref body, _drones);
        var reply = Engine.Handle(peer, message);
        if (requestId != 0)
        {
            if (reply is null)
            {
                node.ReplyError(peer, requestId, $"{message.GetType().Name} takes no reply");
                return;
            }

            node.Reply(peer, requestId, reply, static (ref MessagePackWriter w, ProtocolMessage m) => ProtocolCodec.Write(ref w, m), ProtocolCodec.SizeHint(reply));
        }
    }

    private Task<Reply> StartRequest(int drone, ProtocolMessage request)
    {
        try
        {
            return Node.RequestAsync(drone, ProtocolCodec.KindOf(request), request, static (ref MessagePackWriter w, ProtocolMessage m) => ProtocolCodec.Write(ref w, m), _requestTimeout);
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
}
