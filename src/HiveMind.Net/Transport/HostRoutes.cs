using System.Net;
using System.Net.Sockets;

namespace HiveMind.Net.Transport;

/// <summary>This host's addresses as the routing table sees them: which address a node listening everywhere gives out.</summary>
public static class HostRoutes
{
    /// <summary>Whether <paramref name="address"/> is the "every interface" address (0.0.0.0 or ::), which nobody can connect to.</summary>
    public static bool IsUnspecified(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);
    }

    /// <summary>
    /// The address of this host that traffic to <paramref name="destination"/> leaves from: the kernel's choice of source
    /// for a datagram socket connected there (connecting a datagram socket sends nothing). Throws <see cref="SocketException"/>
    /// when there is no route.
    /// </summary>
    public static IPAddress SourceToward(IPEndPoint destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var probe = new Socket(destination.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        probe.Connect(destination);
        return ((IPEndPoint)probe.LocalEndPoint!).Address;
    }
}
