using System.Diagnostics;

namespace HiveMind.Launch;

/// <summary>
/// Starts drones 1..N-1 as processes of this same program on this machine. Each learns its id, the run's
/// size, drone 0's address and the cluster key from its environment (never its command line, which other
/// users can read). Their output reaches drone 0's console prefixed with their id. Dispose waits for them
/// and kills any that outlive the run, so no orphan is left.
/// </summary>
internal sealed class LocalLauncher : IDroneLauncher
{
    public const string IdVariable = "HIVEMIND_DRONE_ID";
    public const string DronesVariable = "HIVEMIND_DRONES";
    public const string RegistryVariable = "HIVEMIND_REGISTRY";
    public const string KeyVariable = "HIVEMIND_CLUSTER_KEY";
    public const string ParentVariable = "HIVEMIND_PARENT_PID";

    private readonly DroneProcesses _children = new();

    /// <summary>Starts drones 1..<paramref name="drones"/>-1 with the given registry endpoint and key.</summary>
    public LocalLauncher(int drones, string registry, byte[] clusterKey)
    {
        var (program, leading) = CurrentProgram();
        var args = Environment.GetCommandLineArgs().Skip(1).ToList();
        for (var id = 1; id < drones; id++)
        {
            var start = new ProcessStartInfo(program);
            foreach (var arg in leading.Concat(args))
            {
                start.ArgumentList.Add(arg);
            }

            start.Environment[IdVariable] = id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            start.Environment[DronesVariable] = drones.ToString(System.Globalization.CultureInfo.InvariantCulture);
            start.Environment[RegistryVariable] = registry;
            start.Environment[KeyVariable] = Convert.ToBase64String(clusterKey);
            start.Environment[ParentVariable] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _children.Start(id, start);
        }
    }

    /// <summary>
    /// In a drone started by this launcher, when the program lets HiveMind end its process: ends it as soon as drone 0's process is gone, whatever
    /// this drone is doing (even still connecting), so that a killed drone 0 leaves no orphans.
    /// </summary>
    public static void WatchParent(int droneId, Action<int>? endProcess)
    {
        if (endProcess is null || !int.TryParse(Environment.GetEnvironmentVariable(ParentVariable), out var parentId))
        {
            return;
        }

        DroneZeroWatch.Start(
            "hivemind parent watch",
            () =>
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
            },
            $"drone {droneId}: drone 0 (process {parentId}) is gone; exiting.",
            endProcess);
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

    private static (string Program, string[] Leading) CurrentProgram()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this program is unknown");

        // Run as `dotnet App.dll`: start the host with the same assembly; an apphost runs as itself.
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? (process, [Environment.GetCommandLineArgs()[0]])
            : (process, []);
    }
}
