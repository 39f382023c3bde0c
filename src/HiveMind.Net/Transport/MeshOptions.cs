using System.Net;

namespace HiveMind.Net.Transport;

/// <summary>How frames are protected after the handshake.</summary>
public enum FrameProtection
{
    /// <summary>Every frame encrypted and authenticated (AES-GCM) with per-link keys and sequence numbers: the default.</summary>
    Sealed = 1,

    /// <summary>
    /// Frames in clear, with no integrity check: anyone on the path can read the heap and inject messages. Only for
    /// measuring what sealing costs, on a network nobody else can reach.
    /// </summary>
    Clear = 2,
}

/// <summary>Settings of a mesh node. Defaults live here and nowhere else.</summary>
internal sealed record MeshOptions
{
    /// <summary>The secret every drone of the run holds; the handshake proves knowledge of it. At least 16 bytes.</summary>
    public required byte[] ClusterKey { get; init; }

    /// <summary>Address the node listens on (loopback by default).</summary>
    public IPAddress ListenAddress { get; init; } = IPAddress.Loopback;

    /// <summary>Port the node listens on; 0 picks an ephemeral one.</summary>
    public int ListenPort { get; init; }

    /// <summary>
    /// The address other drones connect to this node at, sent to drone 0 when the node registers. Null (the default): the
    /// listen address, or, for a node that listens on every interface (0.0.0.0 or ::), the address of this host that its
    /// traffic to drone 0 leaves from (<see cref="HostRoutes.SourceToward"/>).
    /// </summary>
    public IPAddress? AdvertiseAddress { get; init; }

    /// <summary>
    /// How long a drone goes on connecting to drone 0 while nothing listens at drone 0's address. Short by default: when
    /// drone 0 starts the other drones it listens before they exist, so a refusal that lasts is a wrong address or a drone 0
    /// that is gone. A cluster launcher (srun, mpirun) starts every drone at once, so there drone 0 may come up last.
    /// </summary>
    public TimeSpan RegistryRefusedFor { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Largest frame accepted after the handshake; a larger length prefix closes the link.</summary>
    public int MaxFrameBytes { get; init; } = 16 << 20;

    /// <summary>How frames are protected after the handshake (both ends must agree: it is part of the handshake's proof).</summary>
    public FrameProtection Protection { get; init; } = FrameProtection.Sealed;

    /// <summary>Largest frame accepted before the handshake completes, so a stranger cannot make us allocate.</summary>
    public int MaxHandshakeFrameBytes { get; init; } = 256;

    /// <summary>Connections at most that may wait to prove the key at once; beyond, the oldest is dropped.</summary>
    public int MaxPendingHandshakes { get; init; } = 256;

    /// <summary>Connections at most from one address that may wait to prove the key at once; beyond, its oldest is dropped.</summary>
    public int MaxPendingHandshakesPerSource { get; init; } = 32;

    /// <summary>How long a whole handshake may take (every read of it together) before the connection is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a link with nothing else to send sends a heartbeat.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// A peer silent for this long is reported (<see cref="MeshNode.PeerSilent"/>); its link stays up until whoever
    /// decides removes it (<see cref="MeshNode.Disconnect"/>), or until it has been silent for
    /// <see cref="SendStallTimeout"/>, when it closes as cut off.
    /// </summary>
    public TimeSpan FailureTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// A write that moves nothing for this long closes its link: the peer reads nothing (receive loops never block, so a
    /// live peer always reads). Four failure timeouts unless set: a peer that is only slow (paused, starved) is not cut
    /// off before the barrier manager decides on its silence.
    /// </summary>
    public TimeSpan? SendStallLimit { get; init; }

    /// <summary>The limit a write may make no progress for (<see cref="SendStallLimit"/>, or four failure timeouts).</summary>
    public TimeSpan SendStallTimeout => SendStallLimit ?? FailureTimeout * 4;

    /// <summary>Bytes of bulk frames a link may queue before senders block (backpressure).</summary>
    public int SendQueueBytes { get; init; } = 4 << 20;

    /// <summary>How long connect keeps retrying (with backoff) before it gives up.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Highest drone id accepted in a handshake.</summary>
    public int MaxDrones { get; init; } = 1024;

    /// <summary>
    /// The nice value (Linux, -20..19) of the mesh's own threads: below the application's (0), so that serving other
    /// drones and heartbeats do not wait behind a program that keeps every core busy. Needs CAP_SYS_NICE to go below 0
    /// (without, the threads keep the process's and the mesh says so once); 0 leaves them as they are.
    /// </summary>
    public int NetworkThreadNice { get; init; } = -10;

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting that is unusable.</summary>
    public void Validate()
    {
        if (ClusterKey is null || ClusterKey.Length < 16)
        {
            throw new ArgumentException("ClusterKey must hold at least 16 bytes.", nameof(ClusterKey));
        }

        if (MaxFrameBytes < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFrameBytes), MaxFrameBytes, "MaxFrameBytes must be at least 1024.");
        }

        if (HeartbeatInterval <= TimeSpan.Zero || FailureTimeout <= HeartbeatInterval)
        {
            throw new ArgumentOutOfRangeException(
                nameof(FailureTimeout), FailureTimeout, $"FailureTimeout must be longer than HeartbeatInterval ({HeartbeatInterval}).");
        }

        if (NetworkThreadNice is < -20 or > 19)
        {
            throw new ArgumentOutOfRangeException(nameof(NetworkThreadNice), NetworkThreadNice, "NetworkThreadNice must be -20..19 (a Linux nice value).");
        }

        if (ListenPort is < 0 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(ListenPort), ListenPort, "ListenPort must be 0..65535.");
        }

        if (RegistryRefusedFor < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(RegistryRefusedFor), RegistryRefusedFor, "RegistryRefusedFor must not be negative.");
        }

        if (AdvertiseAddress is { } advertise && !HostRoutes.IsConnectable(advertise))
        {
            throw new ArgumentOutOfRangeException(nameof(AdvertiseAddress), advertise, "AdvertiseAddress must be an address others can connect to, not 0.0.0.0, ::, a multicast group or broadcast.");
        }
    }
}
