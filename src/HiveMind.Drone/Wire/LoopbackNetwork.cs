using HiveMind.Consistency;

namespace HiveMind.Wire;

/// <summary>The network of a run with one drone: every message is to itself and handled in place.</summary>
internal sealed class LoopbackNetwork : IDroneNetwork
{
    private LrcEngine? _engine;

    public void Attach(LrcEngine engine) => _engine = engine;

    public void Send(int drone, ProtocolMessage message)
    {
        if (drone != 0)
        {
            throw new InvalidOperationException($"A run of one drone has no drone {drone}.");
        }

        (_engine ?? throw new InvalidOperationException("The loopback network is not attached.")).Handle(0, message);
    }

    public IReadOnlyList<ProtocolMessage> RequestAll(IReadOnlyList<(int Drone, ProtocolMessage Request)> requests) =>
        requests.Count == 0 ? [] : throw new InvalidOperationException("A run of one drone never asks another drone for anything.");
}
