using MessagePack;

namespace HiveMind.Net.Transport;

/// <summary>The reply to a request: its body, copied out of the receive buffer so it outlives the frame.</summary>
internal sealed class Reply(int peer, byte kind, byte[] body)
{
    /// <summary>The drone that answered.</summary>
    public int Peer { get; } = peer;

    /// <summary>The kind of the request this answers.</summary>
    public byte Kind { get; } = kind;

    /// <summary>The reply body: one MessagePack value.</summary>
    public ReadOnlyMemory<byte> Body { get; } = body;

    /// <summary>A reader over the body.</summary>
    public MessagePackReader Reader() => new(Body);
}
