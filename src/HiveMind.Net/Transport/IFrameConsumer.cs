using HiveMind.Net.Codec;
using MessagePack;

namespace HiveMind.Net.Transport;

/// <summary>
/// The layer above the mesh: it receives complete frames of its own kinds and answers requests. The
/// transport knows frames, not the protocol, so this seam is also how the protocol is tested without sockets.
/// </summary>
internal interface IFrameConsumer
{
    /// <summary>True for the application kinds the consumer handles; any other kind closes the link.</summary>
    bool IsKnownKind(byte kind);

    /// <summary>
    /// Handles one frame from <paramref name="peer"/> on a receive thread. <paramref name="body"/> reads the
    /// frame's body and is valid only during the call. A request (<paramref name="requestId"/> non-zero) must
    /// be answered with <see cref="MeshNode.Reply"/>, now or later. Malformed input (what <see cref="MalformedInput.Is"/>
    /// knows: the library's decoding errors, or an <see cref="InvalidDataException"/>) closes the link with a logged reason.
    /// </summary>
    void OnFrame(MeshNode node, int peer, byte kind, ulong requestId, ref MessagePackReader body);
}
