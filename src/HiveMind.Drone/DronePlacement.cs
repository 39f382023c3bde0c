using System.Net;

namespace HiveMind;

/// <summary>Where a drone stands in its run: its id, the run's size, how to reach drone 0 and the cluster key.</summary>
/// <param name="Id">This drone's id, 0 .. <paramref name="Drones"/> - 1.</param>
/// <param name="Drones">Number of drones in the run.</param>
public sealed record DronePlacement(int Id, int Drones)
{
    /// <summary>Drone 0's mesh address (host:port); required for every drone but drone 0.</summary>
    public string? Registry { get; init; }

    /// <summary>The run's secret; required when there are several drones.</summary>
    public byte[]? ClusterKey { get; init; }

    /// <summary>Drone 0 starts drones 1..N-1 as processes of this program on this machine.</summary>
    public bool LaunchOthers { get; init; }

    /// <summary>A lost drone ends this process with a message (a program's drone); otherwise operations fail with it.</summary>
    public bool ExitOnPeerFailure { get; init; }

    /// <summary>Address and port to listen on (default: the options', on loopback).</summary>
    public IPEndPoint? Listen { get; init; }

    /// <summary>The address the other drones reach this one at, when it is not the listen address (one that listens on 0.0.0.0, say).</summary>
    public IPAddress? Advertise { get; init; }

    /// <summary>
    /// Every drone was started at once by a cluster launcher (srun, mpirun): drone 0 may come up after the others, so they
    /// go on connecting to it for the whole start rather than giving up on a refusal that lasts.
    /// </summary>
    public bool RegistryFromLauncher { get; init; }

    /// <summary>Called with this drone's mesh address as soon as it listens (before it waits for the others).</summary>
    public Action<IPEndPoint>? Listening { get; init; }
}
