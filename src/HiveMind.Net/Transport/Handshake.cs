using System.Buffers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using HiveMind.Net.Codec;
using MessagePack;

namespace HiveMind.Net.Transport;

/// <summary>
/// Mutual proof of the cluster key before any other frame: each side sends a fresh nonce, and each proves it
/// holds the key with HMAC-SHA256 over both nonces, both ids, its role and the frame protection it uses, compared in
/// constant time. A stranger learns nothing it can replay, and cannot make either side allocate more than a small
/// frame. The handshake ends with the connection's <see cref="LinkCipher"/> (null for clear frames), derived from the
/// key and both nonces, and the link's resume key. A connector that carries on a link whose connection broke adds a
/// second proof to its last frame, made with the resume key of that link's first handshake (<see cref="Accepted.Resumes"/>).
/// </summary>
internal static class Handshake
{
    /// <summary>
    /// The wire's version (older peers are refused at the handshake): 2 since interval records carry their VTs as changes,
    /// 3 since lock requests may be attempts (answered <c>LockBusy</c>) and drones ask drone 0 to allocate, 4 since barrier
    /// arrivals carry their VTs as the changes since the drone's last release (releases are numbered) and a whole-page
    /// request names several pages, its reply a copy of each.
    /// </summary>
    public const int Version = 4;

    /// <summary>The id a newcomer claims before drone 0 has given it one (drones that join a running run).</summary>
    public const int Newcomer = -1;
    private const int NonceBytes = 32;
    private static readonly byte[] AcceptorRole = Encoding.ASCII.GetBytes("HiveMind/1 acceptor");
    private static readonly byte[] ConnectorRole = Encoding.ASCII.GetBytes("HiveMind/1 connector");

    /// <summary>
    /// Runs the connector's side; returns the connection's secrets when the acceptor has proven the key and is drone
    /// <paramref name="expectedPeer"/>. With <paramref name="resumeKey"/>, the connection carries on the link whose
    /// first handshake gave that key.
    /// </summary>
    public static LinkSecrets Connect(Socket socket, MeshOptions options, int self, int expectedPeer, byte[]? resumeKey = null)
    {
        try
        {
            var connected = RunConnector(socket, options, self, expectedPeer, resumeKey);
            try
            {
                AwaitAccepted(socket, options, connected, resumeKey);
                return connected.Secrets;
            }
            catch
            {
                connected.Secrets.Cipher?.Dispose();
                throw;
            }
        }
        catch (Exception error) when (IsCodecError(error))
        {
            throw MalformedInput.Wrap(error, "handshake frame");
        }
    }

    /// <summary>
    /// A decoding error of the library's (a frame cut short, a value of another type, an integer that does not fit):
    /// the public methods turn it into the <see cref="InvalidDataException"/> that a refused handshake is.
    /// </summary>
    private static bool IsCodecError(Exception error) => error is not InvalidDataException && MalformedInput.Is(error);

    /// <summary>
    /// Runs a newcomer's side against drone 0: the handshake as <see cref="Newcomer"/>, then drone 0's welcome.
    /// Returns the drone id and the slot capacity of the run; throws <see cref="InvalidDataException"/> with drone 0's
    /// words when it refuses (the run is full, or takes no joiners).
    /// </summary>
    public static (int Id, int Capacity, LinkSecrets Secrets) ConnectAsNewcomer(Socket socket, MeshOptions options)
    {
        try
        {
            return RunNewcomer(socket, options);
        }
        catch (Exception error) when (IsCodecError(error))
        {
            throw MalformedInput.Wrap(error, "handshake frame");
        }
    }

    private static (int Id, int Capacity, LinkSecrets Secrets) RunNewcomer(Socket socket, MeshOptions options)
    {
        var connected = RunConnector(socket, options, Newcomer, 0, resumeKey: null);
        var secrets = connected.Secrets;
        var cipher = secrets.Cipher;
        var buffer = ArrayPool<byte>.Shared.Rent(options.MaxHandshakeFrameBytes);
        try
        {
            var reader = ReadBody(socket, ref buffer, options, MessageKind.Welcome, fields: 3);
            var id = reader.ReadInt32();
            var capacity = reader.ReadInt32();
            var refusal = reader.TryReadNil() ? null : reader.ReadText();
            if (refusal is not null)
            {
                throw new InvalidDataException($"drone 0 refused to take this drone in: {refusal}");
            }

            if (id <= 0 || capacity <= id || capacity > options.MaxDrones)
            {
                throw new InvalidDataException($"drone 0 welcomed this drone as drone {id} of {capacity} slots, which is unusable");
            }

            AwaitAccepted(socket, options, connected, resumeKey: null);
            var welcomed = (id, capacity, secrets);
            cipher = null; // the caller's now
            return welcomed;
        }
        finally
        {
            cipher?.Dispose();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Drone 0's answer to a newcomer that proved the key: its id and the run's slot capacity, or why it is refused.</summary>
    public static void Welcome(Socket socket, int id, int capacity, string? refusal) =>
        Send(socket, MessageKind.Welcome, (ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(3);
            w.Write(id);
            w.Write(capacity);
            if (refusal is null)
            {
                w.WriteNil();
            }
            else
            {
                w.Write(Fit(refusal));
            }
        });

    /// <summary>What the connector's side of a handshake ends with, before the acceptor's answer.</summary>
    private sealed record Connected(LinkSecrets Secrets, byte[] MyNonce, byte[] PeerNonce, int Self, int Peer);

    /// <summary>
    /// Reads the acceptor's last word: its proof that it takes the connection under the link whose key is
    /// <paramref name="resumeKey"/> (or, for a new link, the key this handshake made), or why it does not. Only then does
    /// the connector put the connection under a link, so both ends always agree on whether the link exists.
    /// </summary>
    private static void AwaitAccepted(Socket socket, MeshOptions options, Connected connected, byte[]? resumeKey)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(options.MaxHandshakeFrameBytes);
        try
        {
            var reader = ReadBody(socket, ref buffer, options, MessageKind.Accepted, fields: 2);
            var acceptorProof = reader.TryReadNil() ? null : reader.ReadBinary().ToArray();
            var refusal = reader.TryReadNil() ? null : reader.ReadText();
            if (refusal is not null)
            {
                throw new InvalidDataException($"drone {connected.Peer} did not take the connection: {refusal}");
            }

            var key = resumeKey ?? connected.Secrets.ResumeKey;
            if (acceptorProof is null ||
                !CryptographicOperations.FixedTimeEquals(acceptorProof, ProveResume(AcceptorResumeRole, key, connected.MyNonce, connected.PeerNonce, connected.Self, connected.Peer)))
            {
                throw new InvalidDataException($"drone {connected.Peer} did not prove it holds the link");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static Connected RunConnector(Socket socket, MeshOptions options, int self, int expectedPeer, byte[]? resumeKey)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(options.MaxHandshakeFrameBytes);
        try
        {
            var myNonce = RandomNumberGenerator.GetBytes(NonceBytes);
            Send(socket, MessageKind.Hello, (ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(3);
                w.Write(Version);
                w.Write(self);
                w.Write(myNonce);
            });

            var reader = ReadBody(socket, ref buffer, options, MessageKind.HelloAck, fields: 3);
            var peer = reader.ReadInt32();
            var peerNonce = Nonce(ref reader);
            var proof = reader.ReadBinary().Span;
            if (peer != expectedPeer)
            {
                throw new InvalidDataException($"expected drone {expectedPeer} but drone {peer} answered");
            }

            if (!CryptographicOperations.FixedTimeEquals(proof, Prove(options, AcceptorRole, myNonce, peerNonce, self, peer)))
            {
                throw new InvalidDataException($"drone {peer} did not prove the cluster key (or protects frames otherwise: {options.Protection})");
            }

            var myProof = Prove(options, ConnectorRole, myNonce, peerNonce, self, peer);
            Send(socket, MessageKind.Proof, (ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(resumeKey is null ? 1 : 2);
                w.Write(myProof);
                if (resumeKey is not null)
                {
                    w.Write(ProveResume(ConnectorResumeRole, resumeKey, myNonce, peerNonce, self, peer));
                }
            });

            return new Connected(Secrets(options, myNonce, peerNonce, self, peer, isConnector: true), myNonce, peerNonce, self, peer);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Runs the acceptor's side without holding a thread while it waits for the connector (a stranger may keep a
    /// connection idle); <paramref name="token"/> ends it (the whole handshake's deadline). Returns the connector's drone
    /// id once it has proven the key, or <see cref="Newcomer"/> (to drone 0 only), which then owes it a
    /// <see cref="Welcome"/>; and the link's cipher.
    /// </summary>
    public static async Task<Accepted> AcceptAsync(Socket socket, MeshOptions options, int self, CancellationToken token)
    {
        try
        {
            return await RunAcceptor(socket, options, self, token).ConfigureAwait(false);
        }
        catch (Exception error) when (IsCodecError(error))
        {
            throw MalformedInput.Wrap(error, "handshake frame");
        }
    }

    private static async Task<Accepted> RunAcceptor(Socket socket, MeshOptions options, int self, CancellationToken token)
    {
        var buffer = new byte[options.MaxHandshakeFrameBytes];
        var length = await ReceiveAsync(socket, buffer, options, MessageKind.Hello, token).ConfigureAwait(false);
        var (peer, peerNonce) = ReadHello(buffer, length, options, self);
        var myNonce = RandomNumberGenerator.GetBytes(NonceBytes);
        var myProof = Prove(options, AcceptorRole, peerNonce, myNonce, peer, self);
        Send(socket, MessageKind.HelloAck, (ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(3);
            w.Write(self);
            w.Write(myNonce);
            w.Write(myProof);
        });

        length = await ReceiveAsync(socket, buffer, options, MessageKind.Proof, token).ConfigureAwait(false);
        var (proof, resumeProof) = ReadProof(buffer, length);
        if (!CryptographicOperations.FixedTimeEquals(proof, Prove(options, ConnectorRole, peerNonce, myNonce, peer, self)))
        {
            throw new InvalidDataException($"connector claiming drone {peer} did not prove the cluster key");
        }

        return new Accepted(peer, Secrets(options, peerNonce, myNonce, peer, self, isConnector: false), resumeProof, peerNonce, myNonce, self);
    }

    /// <summary>What the acceptor's side of a handshake ends with.</summary>
    /// <param name="Peer">The connector's drone id (or <see cref="Newcomer"/>).</param>
    /// <param name="Secrets">The connection's cipher and the resume key a new link would have.</param>
    /// <param name="ResumeProof">The connector's proof that it carries on a link, or null for a new link.</param>
    /// <param name="ConnectorNonce">The connector's nonce of this handshake.</param>
    /// <param name="AcceptorNonce">This side's nonce of this handshake.</param>
    /// <param name="Self">This side's drone id.</param>
    public sealed record Accepted(int Peer, LinkSecrets Secrets, byte[]? ResumeProof, byte[] ConnectorNonce, byte[] AcceptorNonce, int Self)
    {
        /// <summary>Whether the connector carries on the link whose resume key is <paramref name="resumeKey"/>.</summary>
        public bool Resumes(byte[] resumeKey) =>
            ResumeProof is not null && CryptographicOperations.FixedTimeEquals(ResumeProof, ProveResume(ConnectorResumeRole, resumeKey, ConnectorNonce, AcceptorNonce, Peer, Self));

        /// <summary>
        /// The acceptor's last word: its proof that it takes the connection under the link whose key is
        /// <paramref name="linkKey"/> (the link carried on, or the new one's <see cref="LinkSecrets.ResumeKey"/>), or why
        /// it does not take the connection.
        /// </summary>
        public void Answer(Socket socket, byte[]? linkKey, string? refusal) =>
            Send(socket, MessageKind.Accepted, (ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(2);
                if (refusal is null && linkKey is not null)
                {
                    w.Write(ProveResume(AcceptorResumeRole, linkKey, ConnectorNonce, AcceptorNonce, Peer, Self));
                    w.WriteNil();
                }
                else
                {
                    w.WriteNil();
                    w.Write(Fit(refusal ?? "no such link"));
                }
            });
    }

    /// <summary>A refusal cut to what a handshake frame holds (the whole frame is at most <see cref="MeshOptions.MaxHandshakeFrameBytes"/>, 256 by default).</summary>
    private static string Fit(string refusal)
    {
        const int MaxBytes = 200;
        if (Encoding.UTF8.GetByteCount(refusal) <= MaxBytes)
        {
            return refusal;
        }

        var length = Math.Min(refusal.Length, MaxBytes - 3);
        while (length > 0 && Encoding.UTF8.GetByteCount(refusal.AsSpan(0, length)) > MaxBytes - 3)
        {
            length--;
        }

        if (length > 0 && char.IsHighSurrogate(refusal[length - 1]))
        {
            length--;
        }

        return string.Concat(refusal.AsSpan(0, length), "...");
    }

    private static LinkSecrets Secrets(MeshOptions options, byte[] connectorNonce, byte[] acceptorNonce, int connector, int acceptor, bool isConnector) =>
        new(
            options.Protection == FrameProtection.Sealed ? LinkCipher.Derive(options.ClusterKey, connectorNonce, acceptorNonce, connector, acceptor, isConnector) : null,
            LinkCipher.DeriveResumeKey(options.ClusterKey, connectorNonce, acceptorNonce, connector, acceptor));

    private static readonly byte[] ConnectorResumeRole = Encoding.ASCII.GetBytes("HiveMind/1 resume, connector");
    private static readonly byte[] AcceptorResumeRole = Encoding.ASCII.GetBytes("HiveMind/1 resume, acceptor");

    private static byte[] ProveResume(byte[] role, byte[] resumeKey, byte[] connectorNonce, byte[] acceptorNonce, int connector, int acceptor)
    {
        var message = new byte[role.Length + (2 * NonceBytes) + 8];
        role.CopyTo(message, 0);
        connectorNonce.CopyTo(message, role.Length);
        acceptorNonce.CopyTo(message, role.Length + NonceBytes);
        BitConverter.TryWriteBytes(message.AsSpan(role.Length + (2 * NonceBytes)), connector);
        BitConverter.TryWriteBytes(message.AsSpan(role.Length + (2 * NonceBytes) + 4), acceptor);
        return HMACSHA256.HashData(resumeKey, message);
    }

    private static (int Peer, byte[] Nonce) ReadHello(byte[] buffer, int length, MeshOptions options, int self)
    {
        var reader = Body(buffer, length);
        Fields(ref reader, 3);
        var version = reader.ReadInt32();
        if (version != Version)
        {
            throw new InvalidDataException($"handshake version {version}, expected {Version}");
        }

        var peer = reader.ReadInt32();
        if ((peer < 0 && !(peer == Newcomer && self == 0)) || peer >= options.MaxDrones || peer == self)
        {
            throw new InvalidDataException($"connector claims drone id {peer}");
        }

        return (peer, Nonce(ref reader));
    }

    private static (byte[] Proof, byte[]? ResumeProof) ReadProof(byte[] buffer, int length)
    {
        var reader = Body(buffer, length);
        var fields = reader.ReadArrayHeader();
        if (fields is not (1 or 2))
        {
            throw new InvalidDataException($"handshake body has {fields} fields, expected 1 or 2");
        }

        var proof = reader.ReadBinary().ToArray();
        return (proof, fields == 2 ? reader.ReadBinary().ToArray() : null);
    }

    /// <summary>Reads one handshake frame of <paramref name="expected"/> kind into <paramref name="buffer"/>; returns its length.</summary>
    private static async Task<int> ReceiveAsync(Socket socket, byte[] buffer, MeshOptions options, byte expected, CancellationToken token)
    {
        var prefix = new byte[FrameBuffer.PrefixBytes];
        if (!await ReadExactlyAsync(socket, prefix, allowEndAtStart: true, token).ConfigureAwait(false))
        {
            throw new InvalidDataException("connection closed during the handshake");
        }

        var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(prefix);
        if (length == 0 || length > (uint)options.MaxHandshakeFrameBytes)
        {
            throw new InvalidDataException($"frame length {length} is outside 1..{options.MaxHandshakeFrameBytes}");
        }

        await ReadExactlyAsync(socket, buffer.AsMemory(0, (int)length), allowEndAtStart: false, token).ConfigureAwait(false);
        var reader = new MessagePackReader(buffer.AsMemory(0, (int)length));
        if (reader.ReadArrayHeader() != 3)
        {
            throw new InvalidDataException("handshake frame is not [kind, id, body]");
        }

        Expect(reader.ReadByte(), expected);
        return (int)length;
    }

    private static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> destination, bool allowEndAtStart, CancellationToken token)
    {
        var read = 0;
        while (read < destination.Length)
        {
            var n = await socket.ReceiveAsync(destination[read..], SocketFlags.None, token).ConfigureAwait(false);
            if (n == 0)
            {
                if (read == 0 && allowEndAtStart)
                {
                    return false;
                }

                throw new InvalidDataException($"connection ended inside a handshake frame ({read} of {destination.Length} bytes)");
            }

            read += n;
        }

        return true;
    }

    private delegate void Fill(ref MessagePackWriter writer);

    private static void Send(Socket socket, byte kind, Fill fill)
    {
        var frame = FrameBuffer.Rent(128);
        try
        {
            var writer = new MessagePackWriter(frame);
            writer.WriteArrayHeader(3);
            writer.Write(kind);
            writer.Write(0UL);
            fill(ref writer);
            writer.Flush();
            frame.Seal();
            socket.Send(frame.Span);
        }
        finally
        {
            frame.Return();
        }
    }

    private static int Receive(Socket socket, ref byte[] buffer, MeshOptions options, out byte kind)
    {
        var length = FrameIo.ReadFrame(socket, ref buffer, options.MaxHandshakeFrameBytes);
        if (length < 0)
        {
            throw new InvalidDataException("connection closed during the handshake");
        }

        var reader = new MessagePackReader(buffer.AsMemory(0, length));
        if (reader.ReadArrayHeader() != 3)
        {
            throw new InvalidDataException("handshake frame is not [kind, id, body]");
        }

        kind = reader.ReadByte();
        return length;
    }

    /// <summary>Reads one handshake frame of <paramref name="expected"/> kind into <paramref name="buffer"/>; returns a reader at its body's first of <paramref name="fields"/> fields.</summary>
    private static MessagePackReader ReadBody(Socket socket, ref byte[] buffer, MeshOptions options, byte expected, int fields)
    {
        var length = Receive(socket, ref buffer, options, out var kind);
        Expect(kind, expected);
        var reader = Body(buffer, length);
        Fields(ref reader, fields);
        return reader;
    }

    private static MessagePackReader Body(byte[] buffer, int length)
    {
        var reader = new MessagePackReader(buffer.AsMemory(0, length));
        reader.ReadArrayHeader();
        reader.ReadByte();
        reader.ReadUInt64();
        return reader;
    }

    private static void Fields(ref MessagePackReader reader, int count)
    {
        var actual = reader.ReadArrayHeader();
        if (actual != count)
        {
            throw new InvalidDataException($"handshake body has {actual} fields, expected {count}");
        }
    }

    private static byte[] Nonce(ref MessagePackReader reader)
    {
        var nonce = reader.ReadBinary();
        if (nonce.Length != NonceBytes)
        {
            throw new InvalidDataException($"nonce of {nonce.Length} bytes, expected {NonceBytes}");
        }

        return nonce.ToArray();
    }

    private static void Expect(byte kind, byte expected)
    {
        if (kind != expected)
        {
            throw new InvalidDataException($"got {MessageKind.Name(kind)} where the handshake expects {MessageKind.Name(expected)}");
        }
    }

    private static byte[] Prove(MeshOptions options, byte[] role, byte[] connectorNonce, byte[] acceptorNonce, int connector, int acceptor)
    {
        // The frame protection is in the proof: two ends that would protect frames differently do not link.
        var message = new byte[role.Length + (2 * NonceBytes) + 9];
        role.CopyTo(message, 0);
        connectorNonce.CopyTo(message, role.Length);
        acceptorNonce.CopyTo(message, role.Length + NonceBytes);
        BitConverter.TryWriteBytes(message.AsSpan(role.Length + (2 * NonceBytes)), connector);
        BitConverter.TryWriteBytes(message.AsSpan(role.Length + (2 * NonceBytes) + 4), acceptor);
        message[^1] = (byte)options.Protection;
        return HMACSHA256.HashData(options.ClusterKey, message);
    }
}

/// <summary>What a handshake gives a connection: its cipher (null for clear frames) and the resume key a new link has.</summary>
internal readonly record struct LinkSecrets(LinkCipher? Cipher, byte[] ResumeKey);
