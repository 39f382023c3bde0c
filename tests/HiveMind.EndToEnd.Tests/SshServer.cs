using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// A real Debian sshd for a test: its own host key, one authorized client key and a known_hosts file that
/// trusts exactly this server, listening on one address (on loopback, or inside a network namespace).
/// Logins are key-only, as the ssh launcher expects. Dispose stops it and every session it started.
/// </summary>
internal sealed class SshServer : IDisposable
{
    private const string Sshd = "/usr/sbin/sshd";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private SshServer(Keys keys, string address, int port, string? netns)
    {
        Address = address;
        Port = port;
        ClientKey = keys.Client;
        KnownHosts = keys.KnownHosts;
        var config = Path.Combine(keys.Folder, $"sshd_config.{address}.{port}");
        File.WriteAllText(config, string.Join('\n',
            $"Port {port}",
            $"ListenAddress {address}",
            $"HostKey {keys.HostKey}",
            $"AuthorizedKeysFile {keys.Authorized}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PidFile none",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "MaxStartups 100",
            "MaxSessions 100",
            "LogLevel INFO",
            string.Empty));
        // known_hosts names a server on the standard port by its address alone, on any other as [address]:port.
        var name = port == 22 ? address : $"[{address}]:{port}";
        File.AppendAllText(keys.KnownHosts, $"{name} {File.ReadAllText(keys.HostKey + ".pub").Trim()}\n");
        Directory.CreateDirectory("/run/sshd"); // sshd's privilege-separation folder

        var start = netns is null ? new ProcessStartInfo(Sshd) : new ProcessStartInfo("ip");
        if (netns is not null)
        {
            foreach (var arg in new[] { "netns", "exec", netns, Sshd })
            {
                start.ArgumentList.Add(arg);
            }
        }

        foreach (var arg in new[] { "-D", "-e", "-f", config })
        {
            start.ArgumentList.Add(arg);
        }

        start.RedirectStandardError = true;
        start.RedirectStandardOutput = true;
        start.UseShellExecute = false;
        using var listening = new ManualResetEventSlim();
        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start sshd");
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (_log)
            {
                _log.AppendLine(e.Data);
            }

            if (e.Data.Contains("Server listening on", StringComparison.Ordinal))
            {
                listening.Set();
            }
        };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        if (!listening.Wait(StartTimeout))
        {
            Dispose();
            Assert.Fail($"sshd on {address}:{port}{(netns is null ? string.Empty : $" in netns {netns}")} did not report listening within {StartTimeout.TotalSeconds} s; its log:\n{Log}");
        }
    }

    public string Address { get; }

    public int Port { get; }

    /// <summary>The private key sshd accepts.</summary>
    public string ClientKey { get; }

    /// <summary>A known_hosts file that holds this server's host key.</summary>
    public string KnownHosts { get; }

    /// <summary>What sshd logged so far (for failure messages).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts sshd on <paramref name="address"/>:<paramref name="port"/> (inside <paramref name="netns"/> if given), trusting <paramref name="keys"/>' client key.</summary>
    public static SshServer Start(Keys keys, string address, int port, string? netns = null)
    {
        Assert.True(File.Exists(Sshd), $"{Sshd} is missing: the test command (./test.sh) installs Debian's openssh-server");
        return new SshServer(keys, address, port, netns);
    }

    /// <summary>A free TCP port on loopback (for sshd to listen on).</summary>
    public static int FreeLoopbackPort()
    {
        using var socket = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        socket.Start();
        return ((System.Net.IPEndPoint)socket.LocalEndpoint).Port;
    }

    /// <summary>Writes a cluster file for <paramref name="hosts"/> that logs in with these keys; returns its path.</summary>
    /// <remarks>A host is its name, or a dictionary of host fields.</remarks>
    public static string WriteConfig<THost>(Keys keys, string workFolder, IEnumerable<THost> hosts, int sshPort, Dictionary<string, object>? extra = null)
    {
        var config = new Dictionary<string, object>
        {
            ["identityFile"] = keys.Client,
            ["knownHostsFile"] = keys.KnownHosts,
            ["sshPort"] = sshPort,
            ["workFolder"] = workFolder,
            ["dotnet"] = "/usr/bin/dotnet",
            ["heapSize"] = "64MiB",
            ["hosts"] = hosts.Select(h => h as Dictionary<string, object> ?? new Dictionary<string, object> { ["host"] = h! }).ToArray(),
        };
        foreach (var (key, value) in extra ?? [])
        {
            config[key] = value;
        }

        var path = Path.Combine(keys.Folder, $"drones.{Guid.NewGuid():N}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return path;
    }

    public void Dispose()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.WaitForExit();
        _process.Dispose();
    }

    /// <summary>Generated keys in a fresh folder: sshd's host key and one client key it accepts.</summary>
    internal sealed class Keys : IDisposable
    {
        public Keys()
        {
            Folder = Directory.CreateTempSubdirectory("hivemind-ssh-").FullName;
            HostKey = Path.Combine(Folder, "host_ed25519");
            Client = Path.Combine(Folder, "client_ed25519");
            Authorized = Path.Combine(Folder, "authorized_keys");
            KnownHosts = Path.Combine(Folder, "known_hosts");
            KeyGen(HostKey);
            KeyGen(Client);
            File.Copy(Client + ".pub", Authorized);
            File.WriteAllText(KnownHosts, string.Empty);
        }

        public string Folder { get; }

        public string HostKey { get; }

        public string Client { get; }

        public string Authorized { get; }

        public string KnownHosts { get; }

        public void Dispose() => Directory.Delete(Folder, recursive: true);

        private static void KeyGen(string path)
        {
            var start = new ProcessStartInfo("ssh-keygen") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { "-q", "-t", "ed25519", "-N", string.Empty, "-C", "hivemind-test", "-f", path })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, string.Create(CultureInfo.InvariantCulture, $"ssh-keygen for {path} exited {process.ExitCode}: {error}"));
        }
    }
}
