using System.Net;

namespace HiveMind;

/// <summary>Host names and addresses on command lines, in the cluster file and in the environment.</summary>
internal static class HostAddress
{
    /// <summary>The address of a host name or address, IPv4 first; throws <see cref="OptionsException"/> naming the host.</summary>
    public static IPAddress Resolve(string host)
    {
        if (IPAddress.TryParse(host, out var address))
        {
            return address;
        }

        try
        {
            var addresses = Dns.GetHostAddresses(host);
            return addresses.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                ?? addresses.FirstOrDefault()
                ?? throw new OptionsException($"host '{host}' has no address.");
        }
        catch (System.Net.Sockets.SocketException error)
        {
            throw new OptionsException($"host '{host}' cannot be resolved: {error.Message}", error);
        }
    }
}
