namespace HiveMind.Consistency;

/// <summary>
/// "The other drones", as the protocol engine sees them. The Drone project implements it over the mesh; tests
/// implement it in memory. Incoming messages go to <see cref="LrcEngine.Handle"/> on a thread other than the
/// drone's application thread, as TreadMarks answers from its SIGIO handler.
/// </summary>
public interface IDroneNetwork
{
    /// <summary>Sends a one-way message to <paramref name="drone"/> (which may be this drone).</summary>
    void Send(int drone, ProtocolMessage message);

    /// <summary>Sends requests to several drones at once and returns their replies in the same order.</summary>
    IReadOnlyList<ProtocolMessage> RequestAll(IReadOnlyList<(int Drone, ProtocolMessage Request)> requests);
}
