using System.Security.Cryptography;
using HiveMind.Net.Transport;

namespace HiveMind.Net.Tests.Transport;

/// <summary>Per-link frame protection: what one end seals the other opens, once, in order, and nothing else.</summary>
public sealed class LinkCipherTests
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] ConnectorNonce = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] AcceptorNonce = RandomNumberGenerator.GetBytes(32);

    [Fact]
    public void SealThenOpen_InOrder_GivesTheBodiesBack()
    {
        using var connector = LinkCipher.Derive(Key, ConnectorNonce, AcceptorNonce, 3, 5, isConnector: true);
        using var acceptor = LinkCipher.Derive(Key, ConnectorNonce, AcceptorNonce, 3, 5, isConnector: false);
        for (var i = 0; i < 100; i++)
        {
            var body = RandomNumberGenerator.GetBytes(1 + (i * 37));
            var frame = Seal(connector, body);
            Assert.False(frame.AsSpan(4, body.Length).SequenceEqual(body), $"frame {i} crossed the network in clear");
            Assert.Equal(body, Open(acceptor, frame));

            // And the other way, with the other key.
            Assert.Equal(body, Open(connector, Seal(acceptor, body)));
        }
    }

    [Fact]
    public void Open_TamperedReplayedReorderedOrDropped_FailsAuthentication()
    {
        using var sender = LinkCipher.Derive(Key, ConnectorNonce, AcceptorNonce, 1, 2, isConnector: true);
        using var receiver = LinkCipher.Derive(Key, ConnectorNonce, AcceptorNonce, 1, 2, isConnector: false);
        var first = Seal(sender, [1, 2, 3]);
        var second = Seal(sender, [4, 5, 6]);
        var third = Seal(sender, [7, 8, 9]);

        var tampered = (byte[])first.Clone();
        tampered[5] ^= 1;
        Assert.Null(Open(receiver, tampered)); // a flipped bit
        using var fresh = LinkCipher.Derive(Key, ConnectorNonce, AcceptorNonce, 1, 2, isConnector: false);
        Assert.Equal([1, 2, 3], Open(fresh, first));
        Assert.Null(Open(fresh, first)); // replayed
        Assert.Null(Open(LinkCipher.Derive(Key, ConnectorNonce, AcceptorNonce, 1, 2, isConnector: false), second)); // reordered (or the first dropped)
        var prefix = (byte[])third.Clone();
        prefix[3] ^= 1;
        Assert.Null(Open(LinkCipher.Derive(Key, ConnectorNonce, AcceptorNonce, 1, 2, isConnector: false), prefix[..^1])); // the length changed

        // Another link (other ids or nonces) cannot open this one's frames.
        Assert.Null(Open(LinkCipher.Derive(Key, ConnectorNonce, AcceptorNonce, 1, 3, isConnector: false), first));
        Assert.Null(Open(LinkCipher.Derive(Key, AcceptorNonce, ConnectorNonce, 1, 2, isConnector: false), first));
    }

    private static byte[] Seal(LinkCipher cipher, byte[] body)
    {
        var plain = new byte[4 + body.Length];
        body.CopyTo(plain, 4);
        var frame = new byte[plain.Length + LinkCipher.TagBytes];
        cipher.Seal(plain, frame);
        return frame;
    }

    private static byte[]? Open(LinkCipher cipher, byte[] frame)
    {
        var copy = (byte[])frame.Clone();
        var length = cipher.Open(copy.AsSpan(0, 4), copy.AsSpan(4));
        return length < 0 ? null : copy.AsSpan(4, length).ToArray();
    }
}
