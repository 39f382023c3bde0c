using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace HiveMind.Net.Transport;

/// <summary>
/// The protection of one link's frames after the handshake: AES-GCM with a key each way, derived (HKDF-SHA256) from
/// the cluster key, both handshake nonces and both drone ids, so that every link and every run has keys of its own.
/// Each frame's nonce is its sequence number on the link, which both ends count: a frame tampered with, injected,
/// replayed, reordered or dropped fails authentication at the next frame that arrives, and the link closes. The
/// length prefix is authenticated too.
/// </summary>
/// <remarks>
/// Threads: <see cref="Seal(ReadOnlySpan{byte}, Span{byte})"/> is called by whichever thread holds the link's socket for writing (one at a time, in
/// the order frames go out); <see cref="Open"/> by the link's receive thread.
/// </remarks>
internal sealed class LinkCipher : IDisposable
{
    /// <summary>Bytes of the tag after each frame's body.</summary>
    public const int TagBytes = 16;

    private const int KeyBytes = 32;
    private const int NonceBytes = 12;

    private readonly AesGcm _seal;
    private readonly AesGcm _open;
    private ulong _sent;
    private ulong _received;

    private LinkCipher(byte[] sealKey, byte[] openKey)
    {
        _seal = new AesGcm(sealKey, TagBytes);
        _open = new AesGcm(openKey, TagBytes);
        CryptographicOperations.ZeroMemory(sealKey);
        CryptographicOperations.ZeroMemory(openKey);
    }

    /// <summary>
    /// The cipher of one end of a link: <paramref name="connector"/> opened it, <paramref name="acceptor"/> took it,
    /// with these nonces; <paramref name="isConnector"/> says which end this is.
    /// </summary>
    public static LinkCipher Derive(byte[] clusterKey, byte[] connectorNonce, byte[] acceptorNonce, int connector, int acceptor, bool isConnector)
    {
        var salt = new byte[connectorNonce.Length + acceptorNonce.Length];
        connectorNonce.CopyTo(salt, 0);
        acceptorNonce.CopyTo(salt, connectorNonce.Length);
        var toAcceptor = HKDF.DeriveKey(HashAlgorithmName.SHA256, clusterKey, KeyBytes, salt, Info("connector to acceptor", connector, acceptor));
        var toConnector = HKDF.DeriveKey(HashAlgorithmName.SHA256, clusterKey, KeyBytes, salt, Info("acceptor to connector", connector, acceptor));
        return isConnector ? new LinkCipher(toAcceptor, toConnector) : new LinkCipher(toConnector, toAcceptor);
    }

    /// <summary>
    /// Seals a frame into <paramref name="destination"/>: <paramref name="plainFrame"/> is the 4-byte prefix and the body,
    /// <paramref name="destination"/> has room for both and the tag after them; its prefix counts the tag. The plain
    /// frame is left as it is (it is kept until the peer acknowledges it, to be sealed again on another connection).
    /// </summary>
    public void Seal(ReadOnlySpan<byte> plainFrame, Span<byte> destination)
    {
        var bodyLength = plainFrame.Length - FrameBuffer.PrefixBytes;
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)(bodyLength + TagBytes));
        Span<byte> nonce = stackalloc byte[NonceBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(nonce, _sent++);
        _seal.Encrypt(
            nonce,
            plainFrame[FrameBuffer.PrefixBytes..],
            destination.Slice(FrameBuffer.PrefixBytes, bodyLength),
            destination.Slice(FrameBuffer.PrefixBytes + bodyLength, TagBytes),
            destination[..FrameBuffer.PrefixBytes]);
    }

    /// <summary>
    /// Opens a frame in place: <paramref name="prefix"/> is its length prefix, <paramref name="sealedBody"/> its body and
    /// tag. Returns the length of the plain body, or -1 when the frame fails authentication.
    /// </summary>
    public int Open(ReadOnlySpan<byte> prefix, Span<byte> sealedBody)
    {
        if (sealedBody.Length < TagBytes)
        {
            return -1;
        }

        Span<byte> nonce = stackalloc byte[NonceBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(nonce, _received++);
        var length = sealedBody.Length - TagBytes;
        var body = sealedBody[..length];
        try
        {
            _open.Decrypt(nonce, body, sealedBody.Slice(length, TagBytes), body, prefix);
            return length;
        }
        catch (AuthenticationTagMismatchException)
        {
            return -1;
        }
    }

    /// <summary>
    /// The secret of a link that a later connection proves it holds to carry the link on (HKDF-SHA256 from the cluster
    /// key and the nonces of the link's first handshake): a key holder that was not party to that handshake cannot take
    /// the link over.
    /// </summary>
    public static byte[] DeriveResumeKey(byte[] clusterKey, byte[] connectorNonce, byte[] acceptorNonce, int connector, int acceptor)
    {
        var salt = new byte[connectorNonce.Length + acceptorNonce.Length];
        connectorNonce.CopyTo(salt, 0);
        acceptorNonce.CopyTo(salt, connectorNonce.Length);
        return HKDF.DeriveKey(HashAlgorithmName.SHA256, clusterKey, KeyBytes, salt, Info("resume", connector, acceptor));
    }

    public void Dispose()
    {
        _seal.Dispose();
        _open.Dispose();
    }

    private static byte[] Info(string direction, int connector, int acceptor) =>
        Encoding.ASCII.GetBytes($"HiveMind/1 frames, {direction}, drone {connector} to drone {acceptor}");
}
