using System.Diagnostics;

namespace HiveMind.Launch;

/// <summary>
/// Starts drones 1..N-1 as processes of this same program on this machine. Each learns its id, the run's
/// size, drone 0's address and the cluster key from its environment (never its command line, which other
/// users can read). Their output reaches drone 0's console prefixed with their id. Dispose waits for them
/// and kills any that outlive the run, so no orphan is left.
/// </summary>
public sealed class LocalLauncher : IDisposable
{
    public const string IdVariable = "HIVEMIND_DRONE_ID";
    public const string DronesVariable = "HIVEMIND_DRONES";
    public const string RegistryVariable = "HIVEMIND_REGISTRY";
    public const string KeyVariable = "HIVEMIND_CLUSTER_KEY";
    public const string ParentVariable = "HIVEMIND_PARENT_PID";

    private readonly List<Process> _children = [];

    /// <summary>Starts drones 1..<paramref name="drones"/>-1 with the given registry endpoint and key.</summary>
    public LocalLauncher(int drones, string registry, byte[] clusterKey)
    {
        var (program, leading) = CurrentProgram();
        var args = Environment.GetCommandLineArgs().Skip(1).ToList();
        for (var id = 1; id < drones; id++)
        {
            var start = new ProcessStartInfo(program)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in leading.Concat(args))
            {
                start.ArgumentList.Add(arg);
            }

            start.Environment[IdVariable] = id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            start.Environment[DronesVariable] = drones.ToString(System.Globalization.CultureInfo.InvariantCulture);
            start.Environment[RegistryVariable] = registry;
            start.Environment[KeyVariable] = Convert.ToBase64String(clusterKey);
            start.Environment[ParentVariable] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start drone {id} ({program})");
            var prefix = $"[drone {id}] ";
            child.OutputDataReceived += (_, e) => Forward(Console.Out, prefix, e.Data);
            child.ErrorDataReceived += (_, e) => Forward(Console.Error, prefix, e.Data);
            child.BeginOutputReadLine();
            child.BeginErrorReadLine();
            _children.Add(child);
        }
    }

    /// <summary>
    /// In a drone started by this launcher: ends this process as soon as drone 0's process is gone, whatever
    /// this drone is doing (even still connecting), so that a killed drone 0 leaves no orphans.
    /// </summary>
    public static void WatchParent(int droneId)
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable(ParentVariable), out var parentId))
        {
            return;
        }

        var watcher = new Thread(() =>
        {
            try
            {
                using var parent = Process.GetProcessById(parentId);
                parent.WaitForExit();
            }
            catch (ArgumentException)
            {
                // Already gone.
            }

            try
            {
                Console.Error.WriteLine($"drone {droneId}: drone 0 (process {parentId}) is gone; exiting.");
            }
            catch (IOException)
            {
                // Our output went to drone 0, which is gone with it.
            }

            Environment.Exit(3);
        })
        { IsBackground = true, Name = "hivemind parent watch" };
        watcher.Start();
    }

    /// <summary>Process ids of the drones started.</summary>
    public IReadOnlyList<int> ProcessIds => _children.Select(c => c.Id).ToList();

    /// <summary>Waits up to <paramref name="timeout"/> for every drone to exit, then kills the rest.</summary>
    public void WaitOrKill(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        foreach (var child in _children)
        {
            var left = deadline - DateTime.UtcNow;
            if (!child.WaitForExit(left > TimeSpan.Zero ? left : TimeSpan.Zero))
            {
                child.Kill(entireProcessTree: true);
                child.WaitForExit();
            }
            else
            {
                child.WaitForExit(); // drains the output readers
            }
        }
    }

    public void Dispose()
    {
        WaitOrKill(TimeSpan.FromSeconds(10));
        foreach (var child in _children)
        {
            child.Dispose();
        }
    }

    private static (string Program, string[] Leading) CurrentProgram()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this program is unknown");

        // Run as `dotnet App.dll`: start the host with the same assembly; an apphost runs as itself.
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? (process, [Environment.GetCommandLineArgs()[0]])
            : (process, []);
    }

    private static void Forward(TextWriter output, string prefix, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.WriteLine(prefix + line);
            }
        }
    }
}
