using System.Globalization;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// Drones that fail for real (kill -9, a network link taken down) while others wait on them: the run goes on in
/// a new view without them (tests/HiveMind.OracleDrone/Failover.cs says what each drone does and checks).
/// </summary>
public sealed class FailureTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    [Fact]
    public void KilledLockHolder_WaiterGetsTheLock_PageStillReadable_BarrierWithoutIt()
    {
        using var run = new LiveProcess(
            "HiveMind.OracleDrone", null, "--drones", "3", "--oracle", "failover", "--heap-size", "1MiB", "--quiet", "--heartbeat-ms", "100", "--failure-timeout-ms", "1000");
        var pid = int.Parse(run.WaitForLine(@"failover drone 2: pid=(\d+)", Step, "drone 2 starting").Groups[1].Value, CultureInfo.InvariantCulture);
        run.WaitForLine("failover drone 2: holding lock 5", Step, "drone 2 taking lock 5");
        run.WaitForLine("failover drone 1: requesting lock 5", Step, "drone 1 asking for lock 5");

        using (var victim = ProcessTable.TryGet(pid))
        {
            Assert.NotNull(victim);
            victim.Kill(); // SIGKILL while it holds lock 5, which it also manages
        }

        run.WaitForLine(@"failover drone 0: view 1: live 0,1, removed 2", Step, "drone 0 deciding the view without drone 2");
        run.WaitForLine(@"failover drone 1: acquired lock 5 in view 1", Step, "drone 1 getting lock 5 that killed drone 2 held");
        run.WaitForLine(@"failover drone 1: read (0|7) at \d+", Step, "drone 1 reading the page killed drone 2 wrote");
        var exit = run.WaitForExit(Step);
        Assert.True(exit == 0, $"the run exited {exit} after drone 2 was killed:\n{run.Output}");
        Assert.Contains("failover drone 0: passed barrier 1 in view 1 with live 0,1", run.Output, StringComparison.Ordinal);
        Assert.Contains("oracle failover passed on drone 0", run.Output, StringComparison.Ordinal);
        Assert.Contains("[drone 1] oracle failover passed on drone 1", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void DroneCutOffByItsLink_RemovedWithinFailureTimeout_NothingHangs()
    {
        using var keys = new SshServer.Keys();
        using var hosts = new NetworkNamespaces(3);
        using var second = SshServer.Start(keys, NetworkNamespaces.Address(1), 22, hosts.Name(1));
        using var third = SshServer.Start(keys, NetworkNamespaces.Address(2), 22, hosts.Name(2));
        var config = SshServer.WriteConfig(keys, Path.Combine(keys.Folder, "work"), Enumerable.Range(0, 3).Select(NetworkNamespaces.Address), 22);
        using var run = new LiveProcess(
            "HiveMind.OracleDrone", hosts.Name(0), "--config", config, "--oracle", "failover", "--heap-size", "1MiB", "--quiet", "--heartbeat-ms", "100", "--failure-timeout-ms", "1000");
        run.WaitForLine("failover drone 2: holding lock 5", Step, "drone 2 taking lock 5");
        run.WaitForLine("failover drone 1: requesting lock 5", Step, "drone 1 asking for lock 5");

        var cut = DateTime.UtcNow;
        hosts.SetLink(2, up: false); // drone 2's cable pulled: no RST, only silence
        run.WaitForLine(@"failover drone 0: view 1: live 0,1, removed 2", Step, "drone 0 removing silent drone 2");
        var removedAfter = DateTime.UtcNow - cut;
        run.WaitForLine(@"failover drone 1: acquired lock 5 in view 1", Step, "drone 1 getting lock 5 after drone 2 was cut off");
        var exit = run.WaitForExit(Step);
        Assert.True(exit == 0, $"the run exited {exit} after drone 2 was cut off:\n{run.Output}");
        Assert.True(removedAfter < TimeSpan.FromSeconds(5), $"drone 2 was removed {removedAfter.TotalMilliseconds:F0} ms after its link went down; the failure timeout is 1000 ms");
    }
}
