namespace HiveMind.Net.Transport;

/// <summary>
/// Message kinds the mesh itself uses. Kinds from <see cref="FirstApplicationKind"/> up belong to the layer
/// above, which says which of them it knows (<see cref="IFrameConsumer.IsKnownKind"/>).
/// </summary>
internal static class MessageKind
{
    /// <summary>Handshake, connector to acceptor: [version, drone id, nonce].</summary>
    public const byte Hello = 1;

    /// <summary>Handshake, acceptor to connector: [drone id, nonce, proof].</summary>
    public const byte HelloAck = 2;

    /// <summary>Handshake, connector to acceptor: [proof].</summary>
    public const byte Proof = 3;

    /// <summary>Liveness and acknowledgement: the request-id field counts the sender's frames taken so far; the body is nil.</summary>
    public const byte Heartbeat = 4;

    /// <summary>Reply to the request whose id the frame carries; body is the reply.</summary>
    public const byte Response = 5;

    /// <summary>Failure reply to a request: body is the error text.</summary>
    public const byte ErrorResponse = 6;

    /// <summary>Drone to registry (drone 0): [listen host, listen port].</summary>
    public const byte Register = 7;

    /// <summary>Registry to drone: [[id, host, port] ...] of every drone.</summary>
    public const byte PeerTable = 8;

    /// <summary>Handshake, drone 0 to a newcomer after its proof: [assigned drone id, slot capacity, refusal or nil].</summary>
    public const byte Welcome = 9;

    /// <summary>Drone 0 to the members: [newcomer id], a drone it gave that id to, which may now link to them.</summary>
    public const byte Announce = 10;

    /// <summary>
    /// The first frame of each connection of a link, both ways: [number of the next frame the sender sends], with the
    /// frames it has taken in the request-id field. A link whose connection broke carries on from there on a new one.
    /// </summary>
    public const byte Resume = 11;

    /// <summary>
    /// Handshake, acceptor to connector, last: [proof that it takes the connection under the link (new, or carried on),
    /// or nil; refusal, or nil]. The connector puts the connection under a link only once it has this.
    /// </summary>
    public const byte Accepted = 12;

    /// <summary>First kind the layer above may use.</summary>
    public const byte FirstApplicationKind = 16;

    /// <summary>Name of a kind, for logs and errors.</summary>
    public static string Name(byte kind) => kind switch
    {
        Hello => "Hello",
        HelloAck => "HelloAck",
        Proof => "Proof",
        Heartbeat => "Heartbeat",
        Response => "Response",
        ErrorResponse => "ErrorResponse",
        Register => "Register",
        PeerTable => "PeerTable",
        Welcome => "Welcome",
        Announce => "Announce",
        Resume => "Resume",
        Accepted => "Accepted",
        _ => $"kind {kind}",
    };
}
