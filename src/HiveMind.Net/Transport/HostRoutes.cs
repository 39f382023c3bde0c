using System.Net;
using System.Net.Sockets;

namespace HiveMind.Net.Transport;

/// <summary>This host's addresses as the routing table sees them: which address a node listening everywhere gives out.</summary>
internal static class HostRoutes
{
    /// <summary>Whether <paramref name="address"/> is the "every interface" address (0.0.0.0 or ::), which nobody can connect to.</summary>
    public static bool IsUnspecified(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);
    }

    /// <summary>
    /// Whether a peer may give <paramref name="address"/> as where it listens: one host's address, not "every interface",
    /// a multicast group or the broadcast address (an IPv4 address mapped into IPv6 is judged as the IPv4 address).
    /// </summary>
    public static bool IsConnectable(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var plain = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        if (IsUnspecified(plain) || plain.Equals(IPAddress.Broadcast) || plain.IsIPv6Multicast)
        {
            return false;
        }

        return plain.AddressFamily != AddressFamily.InterNetwork || (plain.GetAddressBytes()[0] & 0xF0) != 0xE0; // 224.0.0.0/4
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
