using HiveMind.Net.Codec;
using HiveMind.Net.Transport;
using MessagePack;

namespace HiveMind.Net.Tests.Transport;

/// <summary>A peer's error reply that does not decode: its request must end, not wait for ever.</summary>
public sealed class ErrorReplyTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ErrorReplyWhoseTextIsNotAString_FailsItsRequest_AndClosesTheLink()
    {
        var options = LocalMesh.NewOptions();
        using var zero = new MeshNode(0, options, new TestConsumer());
        using var one = new MeshNode(1, options, new NilErrorConsumer());
        var forming = new[] { (Node: zero, Registry: (System.Net.IPEndPoint?)null), (Node: one, Registry: zero.ListenEndpoint) }
            .Select(n => Task.Run(() => n.Node.FormMesh(2, n.Registry, TimeSpan.FromSeconds(30))))
            .ToArray();
        await Task.WhenAll(forming).WaitAsync(Wait);

        var request = zero.RequestAsync(1, MessageKind.FirstApplicationKind, 0, static (ref MessagePackWriter w, int _) => w.WriteNil(), Timeout.InfiniteTimeSpan);
        var error = await Assert.ThrowsAsync<MeshException>(() => request.WaitAsync(Wait));
        Assert.Contains("drone 1 answered", error.Message, StringComparison.Ordinal);
        Assert.Contains("with a malformed error reply", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Answers every request with an error reply whose text is nil, not a str.</summary>
    private sealed class NilErrorConsumer : IFrameConsumer
    {
        public bool IsKnownKind(byte kind) => kind == MessageKind.FirstApplicationKind;

        public void OnFrame(MeshNode node, int peer, byte kind, ulong requestId, ref MessagePackReader body)
        {
            body.SkipValue();
            node.Serve(peer, requestId, () =>
            {
                var frame = FrameBuffer.Rent(64);
                frame.Kind = MessageKind.ErrorResponse;
                var writer = new MessagePackWriter(frame);
                writer.WriteArrayHeader(3);
                writer.Write(MessageKind.ErrorResponse);
                writer.Write(requestId);
                writer.WriteNil();
                writer.Flush();
                frame.Seal();
                return frame;
            });
        }
    }
}
