namespace HiveMind.EndToEnd.Tests;

/// <summary>Drones on separate hosts: network namespaces joined by veth links to a bridge, sshd on each remote host.</summary>
public sealed class NetnsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public void QuickSort_ThreeHostsInNamespaces_SortsAndVerifies()
    {
        using var keys = new SshServer.Keys();
        using var hosts = new NetworkNamespaces(3);
        using var second = SshServer.Start(keys, NetworkNamespaces.Address(1), 22, hosts.Name(1));
        using var third = SshServer.Start(keys, NetworkNamespaces.Address(2), 22, hosts.Name(2));
        var config = SshServer.WriteConfig<object>(
            keys,
            Path.Combine(keys.Folder, "work"),
            [
                NetworkNamespaces.Address(0),
                new Dictionary<string, object> { ["host"] = NetworkNamespaces.Address(1), ["workFolder"] = Path.Combine(keys.Folder, "host1") },
                new Dictionary<string, object> { ["host"] = NetworkNamespaces.Address(2), ["workFolder"] = Path.Combine(keys.Folder, "host2"), ["listenPort"] = 7411 },
            ],
            22);

        var (exit, output, error) = AppProcess.RunIn(
            hosts.Name(0), "QuickSort", Timeout, "--config", config, "--count", "300000", "--seed", "4", "--threshold", "2048", "--no-progress");

        Assert.True(exit == 0, $"QuickSort on hosts {NetworkNamespaces.Address(0)}..{NetworkNamespaces.Address(2)} exited {exit}:\n{output}\n{error}\nsshd logs:\n{second.Log}\n{third.Log}");
        Assert.Contains("VERIFIED", output, StringComparison.Ordinal);
        Assert.Contains("RESULT drones=3 ", output, StringComparison.Ordinal);
        Assert.Matches(@"statistic\s+│\s+drone 0\s+│\s+drone 1\s+│\s+drone 2\s+│\s+total", output); // every drone's report reached drone 0
        Assert.True(File.Exists(Path.Combine(keys.Folder, "host1", "QuickSort", "QuickSort.dll")), "host 1's own work folder did not get the program");
        Assert.True(File.Exists(Path.Combine(keys.Folder, "host2", "QuickSort", "QuickSort.dll")), "host 2's own work folder did not get the program");
    }
}
