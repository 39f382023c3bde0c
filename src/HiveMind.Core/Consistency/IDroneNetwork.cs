namespace HiveMind.Consistency;

/// <summary>
/// "The other drones", as the protocol engine sees them. The Drone project implements it over the mesh (and, for a run
/// of one drone, as a loopback); tests implement it in memory. Messages from other drones go to
/// <see cref="LrcEngine.Handle"/> on a network thread, not the drone's application thread, as TreadMarks answers from
/// its SIGIO handler. A message a drone sends to itself may be handled inside <see cref="Send"/>, on the calling thread,
/// which may be the application thread: the mesh and the loopback network do so; the in-memory network of the tests
/// queues it for the drone's network thread like any other.
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
