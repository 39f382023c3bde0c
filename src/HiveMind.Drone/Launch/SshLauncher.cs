using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using HiveMind.Config;

namespace HiveMind.Launch;

/// <summary>
/// Starts drones 1..N-1 on the hosts of a cluster file with the system's ssh: copies this program's folder to
/// each host's work folder (scp, once per host and folder; not at all with <c>copyProgram: false</c>, for a file system
/// every host shares), then runs it there over ssh with the same arguments (<c>dotnet App.dll</c>, or <c>./App</c> for a
/// single-file or native program).
/// Key-based only: ssh runs in BatchMode and never prompts. The cluster key travels on the ssh session's
/// standard input, never on a command line; the session's input stays open for the run, so a remote drone
/// sees end of input and exits as soon as drone 0 or its ssh client is gone. Remote output comes back
/// prefixed with the drone id.
/// </summary>
internal sealed class SshLauncher : IDroneLauncher
{
    /// <summary>Environment variable (set on the remote command line) with the address a remote drone listens on.</summary>
    public const string ListenVariable = "HIVEMIND_LISTEN";

    /// <summary>Environment variable telling a drone to read the cluster key from its first input line.</summary>
    public const string KeyOnInputVariable = "HIVEMIND_KEY_ON_INPUT";

    // Options the launcher sets itself on the remote command line (a value each), in place of the user's, and drone 0's own
    // addresses, which mean nothing on another host (a remote drone listens where the cluster file says).
    private static readonly string[] Replaced =
        ["config", "drones", "page-size", "heap-size", "gc-threshold", "heartbeat-ms", "failure-timeout-ms", "listen-port", "listen-address", "advertise-address"];

    private static readonly TimeSpan CopyTimeout = TimeSpan.FromMinutes(5);

    private readonly DroneProcesses _children = new();
    private readonly DronesConfig _config;

    /// <summary>Copies the program to every host and starts drones 1..N-1 there; throws <see cref="LaunchException"/> naming a host that failed.</summary>
    /// <param name="options">Drone 0's options, with the config applied: they become the remote drones' settings.</param>
    /// <param name="registry">Drone 0's mesh address (host:port), reachable from every host.</param>
    /// <param name="clusterKey">The run's secret.</param>
    public SshLauncher(DroneOptions options, string registry, byte[] clusterKey)
    {
        ArgumentNullException.ThrowIfNull(options);
        _config = options.ClusterConfig ?? throw new ArgumentException("the options hold no cluster config", nameof(options));
        var hosts = _config.Hosts.Count;
        var folder = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var app = Assembly.GetEntryAssembly()?.GetName().Name ?? throw new LaunchException("the entry assembly of this program is unknown");
        var arguments = RemoteArguments(Environment.GetCommandLineArgs().Skip(1), options);
        try
        {
            // One copy per (login, folder): drones that share a host and work folder share the copy. On a shared file system
            // there is nothing to copy: every drone runs the program from drone 0's folder.
            if (_config.CopyProgram)
            {
                foreach (var group in Enumerable.Range(1, hosts - 1).GroupBy(k => (Login(k), _config.SshPortOf(k), _config.WorkFolderOf(k))))
                {
                    Copy(group.First(), folder, RemoteFolder(group.First(), app));
                }
            }

            // A framework-dependent program runs as `dotnet App.dll`; a single-file or native one (no App.dll) as itself.
            var program = File.Exists(Path.Combine(folder, app + ".dll"))
                ? $"{Quote(_config.Dotnet)} {Quote(app + ".dll")}"
                : File.Exists(Path.Combine(folder, app)) ? Quote("./" + app)
                : throw new LaunchException($"neither {app}.dll nor the executable {app} is in the program's folder {folder}; nothing to start on the other hosts.");
            for (var k = 1; k < hosts; k++)
            {
                var listen = FormatEndpoint(_config.Hosts[k].Host, _config.ListenPortOf(k));
                var command = new StringBuilder()
                    .Append(CultureInfo.InvariantCulture, $"cd {Quote(_config.CopyProgram ? RemoteFolder(k, app) : folder)} && exec env")
                    .Append(CultureInfo.InvariantCulture, $" {LocalLauncher.IdVariable}={k} {LocalLauncher.DronesVariable}={hosts}")
                    .Append(CultureInfo.InvariantCulture, $" {LocalLauncher.RegistryVariable}={Quote(registry)} {ListenVariable}={Quote(listen)} {KeyOnInputVariable}=1")
                    .Append(' ').Append(program);
                foreach (var argument in arguments)
                {
                    command.Append(' ').Append(Quote(argument));
                }

                _children.Start(k, Ssh(k, command.ToString()), Convert.ToBase64String(clusterKey), $"{Login(k)} (ssh port {_config.SshPortOf(k)})");
            }
        }
        catch
        {
            _children.WaitOrKill(TimeSpan.Zero);
            _children.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<int> ProcessIds => _children.ProcessIds;

    /// <inheritdoc/>
    public void WaitOrKill(TimeSpan timeout) => _children.WaitOrKill(timeout);

    /// <inheritdoc/>
    public void Abandon(int drone) => _children.Kill(drone);

    /// <inheritdoc/>
    public DroneExit? FirstExited() => _children.FirstExited();

    /// <inheritdoc/>
    public DroneExit? ExitOf(int drone, TimeSpan wait) => _children.ExitOf(drone, wait);

    public void Dispose() => _children.Dispose();

    /// <summary>
    /// The arguments a remote drone gets: the user's, less the options the launcher sets itself, plus drone 0's
    /// effective settings (so the cluster file's values reach hosts that do not have the file).
    /// </summary>
    public static IReadOnlyList<string> RemoteArguments(IEnumerable<string> args, DroneOptions options)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(options);
        var result = new List<string>();
        var skipValue = false;
        foreach (var arg in args)
        {
            if (skipValue)
            {
                skipValue = false;
                continue;
            }

            var name = arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..].Split('=', 2)[0] : null;
            if (name is not null && Replaced.Contains(name))
            {
                skipValue = !arg.Contains('=', StringComparison.Ordinal);
                continue;
            }

            result.Add(arg);
        }

        result.AddRange(
        [
            "--page-size", options.PageSize.ToString(CultureInfo.InvariantCulture),
            "--heap-size", options.HeapSize,
            "--gc-threshold", options.GcThreshold,
            "--heartbeat-ms", options.HeartbeatMs.ToString(CultureInfo.InvariantCulture),
            "--failure-timeout-ms", options.FailureTimeoutMs.ToString(CultureInfo.InvariantCulture),
        ]);
        return result;
    }

    /// <summary>
    /// In a drone started by this launcher: reads the cluster key from the first line of standard input, then, when
    /// the program lets HiveMind end its process (<paramref name="endProcess"/>), ends it as soon as the input ends
    /// (drone 0 or its ssh client is gone), whatever the drone is doing.
    /// </summary>
    public static byte[] ReadKeyAndWatchInput(int droneId, Action<int>? endProcess)
    {
        var input = Console.OpenStandardInput();
        var line = new List<byte>();
        int b;
        while ((b = input.ReadByte()) >= 0 && b != '\n')
        {
            line.Add((byte)b);
        }

        byte[] key;
        try
        {
            key = Convert.FromBase64String(Encoding.ASCII.GetString([.. line]).Trim());
        }
        catch (FormatException error)
        {
            throw new OptionsException($"drone {droneId}: the first input line is not a base64 cluster key.", error);
        }

        if (endProcess is null)
        {
            return key;
        }

        DroneZeroWatch.Start(
            "hivemind input watch",
            () =>
            {
                var buffer = new byte[256];
                try
                {
                    while (input.Read(buffer) > 0)
                    {
                    }
                }
                catch (IOException)
                {
                    // Treated as the end of input.
                }
            },
            $"drone {droneId}: the ssh session from drone 0 has ended; exiting.",
            endProcess);
        return key;
    }

    /// <summary><c>'text'</c> for a POSIX shell, with embedded quotes escaped.</summary>
    public static string Quote(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    private string Login(int k) => _config.SshUserOf(k) is { } user ? $"{user}@{_config.Hosts[k].Host}" : _config.Hosts[k].Host;

    private string Describe(int k) => $"drone {k} on {Login(k)} (ssh port {_config.SshPortOf(k)})";

    private string RemoteFolder(int k, string app) => $"{_config.WorkFolderOf(k).TrimEnd('/')}/{app}";

    private void Copy(int k, string folder, string remote)
    {
        var parent = remote[..remote.LastIndexOf('/')];
        Run(k, "preparing the work folder", Ssh(k, $"mkdir -p {Quote(parent)} && rm -rf {Quote(remote)}"));
        var scp = new ProcessStartInfo("scp");
        foreach (var option in CommonOptions())
        {
            scp.ArgumentList.Add(option);
        }

        scp.ArgumentList.Add("-P");
        scp.ArgumentList.Add(_config.SshPortOf(k).ToString(CultureInfo.InvariantCulture));
        scp.ArgumentList.Add("-r");
        scp.ArgumentList.Add("-q");
        scp.ArgumentList.Add(folder);
        var host = _config.Hosts[k].Host.Contains(':', StringComparison.Ordinal) ? $"[{_config.Hosts[k].Host}]" : _config.Hosts[k].Host;
        scp.ArgumentList.Add(_config.SshUserOf(k) is { } user ? $"{user}@{host}:{remote}" : $"{host}:{remote}");
        Run(k, $"copying {folder} to {remote}", scp);
    }

    private ProcessStartInfo Ssh(int k, string command)
    {
        var ssh = new ProcessStartInfo("ssh");
        foreach (var option in CommonOptions())
        {
            ssh.ArgumentList.Add(option);
        }

        ssh.ArgumentList.Add("-p");
        ssh.ArgumentList.Add(_config.SshPortOf(k).ToString(CultureInfo.InvariantCulture));
        if (_config.SshUserOf(k) is { } user)
        {
            ssh.ArgumentList.Add("-l");
            ssh.ArgumentList.Add(user);
        }

        ssh.ArgumentList.Add(_config.Hosts[k].Host);
        ssh.ArgumentList.Add("--");
        ssh.ArgumentList.Add(command);
        return ssh;
    }

    private List<string> CommonOptions()
    {
        var options = new List<string>
        {
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
            "-o", "LogLevel=ERROR",
        };
        if (_config.IdentityFile is { } identity)
        {
            options.AddRange(["-i", ExpandHome(identity), "-o", "IdentitiesOnly=yes"]);
        }

        if (_config.KnownHostsFile is { } known)
        {
            options.AddRange(["-o", $"UserKnownHostsFile={ExpandHome(known)}"]);
        }

        return options;
    }

    /// <summary>Runs a setup command to its end; a failure becomes a <see cref="LaunchException"/> with ssh's own words.</summary>
    private void Run(int k, string what, ProcessStartInfo start)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = true;
        start.UseShellExecute = false;
        using var process = Process.Start(start) ?? throw new LaunchException($"{Describe(k)}: could not start {start.FileName}.");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(CopyTimeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new LaunchException($"{Describe(k)}: {what} did not finish within {CopyTimeout.TotalMinutes:F0} min.");
        }

        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            var words = string.Join(" ", $"{error.Result} {output.Result}".Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            throw new LaunchException($"{Describe(k)}: {what} failed ({start.FileName} exit {process.ExitCode}): {(words.Length > 0 ? words : "no message")}");
        }
    }

    private static string FormatEndpoint(string host, int port) =>
        host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";

    private static string ExpandHome(string path) =>
        path.StartsWith("~/", StringComparison.Ordinal)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path[2..])
            : path;
}
