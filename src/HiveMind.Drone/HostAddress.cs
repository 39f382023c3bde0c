using System.Net;

namespace HiveMind;

/// <summary>Host names and addresses on command lines, in the cluster file and in the environment.</summary>
internal static class HostAddress
{
    /// <summary>
    /// HOST:PORT (a name or an address; [v6] in brackets), resolved; <paramref name="anyPort"/> allows port 0 (listen
    /// on any free port). Throws <see cref="OptionsException"/> that starts with <paramref name="what"/>.
    /// </summary>
    public static IPEndPoint ParseEndpoint(string text, string what, bool anyPort)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0
            || !int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
            || port > 65535 || (port == 0 && !anyPort))
        {
            throw new OptionsException($"{what}: '{text}' is not a host and port such as 127.0.0.1:7400 or node7:7400.");
        }

        try
        {
            return new IPEndPoint(Resolve(text[..colon].Trim('[', ']')), port);
        }
        catch (OptionsException error)
        {
            throw new OptionsException($"{what}: {error.Message}", error);
        }
    }

    /// <summary>As <see cref="Resolve"/>, with the error's message starting with <paramref name="what"/> (an option's name).</summary>
    public static IPAddress ResolveFor(string host, string what)
    {
        try
        {
            return Resolve(host);
        }
        catch (OptionsException error)
        {
            throw new OptionsException($"{what}: {error.Message}", error);
        }
    }

    /// <summary>
    /// The address of a host name or address: IPv4 first, and for a name, an address other hosts can reach first (a name
    /// that /etc/hosts maps to 127.0.1.1, as Debian does for the machine's own name, also has its interfaces' addresses,
    /// which are what the other hosts of a run see). Throws <see cref="OptionsException"/> naming the host.
    /// </summary>
    public static IPAddress Resolve(string host)
    {
        if (IPAddress.TryParse(host, out var address))
        {
            return address;
        }

        try
        {
            var addresses = Dns.GetHostAddresses(host);
            return Preferred(addresses) ?? throw new OptionsException($"host '{host}' has no address.");
        }
        catch (System.Net.Sockets.SocketException error)
        {
            throw new OptionsException($"host '{host}' cannot be resolved: {error.Message}", error);
        }
    }

    /// <summary>The address to use of a name's <paramref name="addresses"/>: IPv4 before IPv6, and not loopback before loopback.</summary>
    internal static IPAddress? Preferred(IReadOnlyList<IPAddress> addresses) =>
        addresses.OrderBy(a => IPAddress.IsLoopback(a) || a.IsIPv6LinkLocal ? 1 : 0)
            .ThenBy(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 0 : 1)
            .FirstOrDefault();
}
