using System.Globalization;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// QuickSort started by other launchers, for real: Open MPI's mpirun inside a network namespace of its own, and the
/// environment contract any other launcher can follow, with drones on three hosts that listen on every interface.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ClusterLauncherTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    private static readonly string QuickSort = Path.ChangeExtension(AppProcess.AppPath("QuickSort"), null); // the apphost

    [Fact]
    public void Mpirun_FourRanks_AreTheFourDronesOfOneRun_AndVerify()
    {
        using var host = new NetworkNamespaces(1);
        var folder = Directory.CreateTempSubdirectory("hivemind-mpi-").FullName;
        try
        {
            var (exit, output) = ToolProcess.Run(
                host.Name(0),
                "/usr/bin/mpirun",
                new Dictionary<string, string>(),
                Timeout,
                () => string.Empty,
                "--allow-run-as-root", "--oversubscribe", "--mca", "oob_tcp_if_include", "lo", "--mca", "btl_tcp_if_include", "lo", "-np", "4", "--tag-output",
                QuickSort, "--launcher", "mpi", "--key-file", Path.Combine(folder, "mpi.key"), "--count", "300000", "--seed", "6", "--no-progress", "--quiet");

            Assert.True(exit == 0, $"mpirun -np 4 QuickSort --launcher mpi exited {exit}:\n{output}");
            Assert.Contains("VERIFIED", output, StringComparison.Ordinal);
            Assert.Contains("RESULT drones=4 elements=300000 ", output, StringComparison.Ordinal);
            Assert.Contains(" verified=1 failed=0 ", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void EnvironmentContract_ThreeDronesOnThreeHosts_ListeningOnEveryInterface_AdvertiseAddressesTheOthersReach()
    {
        using var hosts = new NetworkNamespaces(3);
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        // Started in reverse: drone 0 comes up last, as a launcher that starts every drone at once may have it.
        var drones = Enumerable.Range(0, 3).Reverse().Select(k => new LiveProcess(
            "QuickSort",
            hosts.Name(k),
            new Dictionary<string, string>
            {
                ["HIVEMIND_DRONE_ID"] = k.ToString(CultureInfo.InvariantCulture),
                ["HIVEMIND_DRONES"] = "3",
                ["HIVEMIND_RENDEZVOUS"] = $"{NetworkNamespaces.Address(0)}:7600",
                ["HIVEMIND_CLUSTER_KEY"] = key,
            },
            "--launcher", "env", "--listen-address", "0.0.0.0", "--count", "300000", "--seed", "7", "--no-progress", "--quiet")).ToList();
        try
        {
            drones.Reverse();
            var exits = drones.Select(d => d.WaitForExit(Timeout)).ToList();
            var outputs = string.Join('\n', drones.Select((d, k) => $"--- drone {k} on {NetworkNamespaces.Address(k)}:\n{d.Output}"));
            Assert.True(exits.All(e => e == 0), $"drones exited {string.Join(", ", exits)}:\n{outputs}");
            Assert.Contains("RESULT drones=3 elements=300000 ", drones[0].Output, StringComparison.Ordinal);
            Assert.Contains(" verified=1 failed=0 ", drones[0].Output, StringComparison.Ordinal);
        }
        finally
        {
            drones.ForEach(d => d.Dispose());
        }
    }
}
