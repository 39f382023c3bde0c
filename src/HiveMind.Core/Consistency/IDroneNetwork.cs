namespace HiveMind.Consistency;

/// <summary>
/// "The other drones", as the protocol engine sees them. The Drone project implements it over the mesh; tests
/// implement it in memory. Incoming messages go to <see cref="LrcEngine.Handle"/> on a thread other than the
/// drone's application thread, as TreadMarks answers from its SIGIO handler.
/// </summary>
internal interface IDroneNetwork
{
    /// <summary>Sends a one-way message to <paramref name="drone"/> (which may be this drone).</summary>
    void Send(int drone, ProtocolMessage message);

    /// <summary>Sends requests to several drones at once and returns their replies in the same order.</summary>
    IReadOnlyList<ProtocolMessage> RequestAll(IReadOnlyList<(int Drone, ProtocolMessage Request)> requests);

    /// <summary>
    /// Whether this drone has a working link to <paramref name="drone"/> (and so notices for itself when it goes
    /// silent): the barrier manager removes a drone for silence only on its own observation when it has one.
    /// </summary>
    bool IsLinked(int drone) => true;
}
