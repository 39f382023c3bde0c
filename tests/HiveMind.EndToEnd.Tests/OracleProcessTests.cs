namespace HiveMind.EndToEnd.Tests;

/// <summary>The PROTOCOL.md oracles with every drone a process of its own (tests/HiveMind.OracleDrone).</summary>
public sealed class OracleProcessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Theory]
    [InlineData("seed-example", "4", "1")]
    [InlineData("counters", "2", "41")]
    [InlineData("counters", "4", "42")]
    [InlineData("phases", "3", "1")]
    [InlineData("phases", "5", "1")]
    [InlineData("random", "3", "43")]
    [InlineData("random", "4", "44")]
    public void Oracle_DronesAsProcesses_PassesOnEveryDrone(string oracle, string drones, string seed)
    {
        var (exit, output, error) = AppProcess.Run(
            "HiveMind.OracleDrone", Timeout, "--drones", drones, "--oracle", oracle, "--seed", seed, "--heap-size", "1MiB", "--quiet");
        Assert.True(exit == 0, $"oracle {oracle} on {drones} drones (seed {seed}) exited {exit}:\n{output}\n{error}");
        Assert.Contains($"oracle {oracle} passed on drone 0", output, StringComparison.Ordinal);
        for (var id = 1; id < int.Parse(drones, System.Globalization.CultureInfo.InvariantCulture); id++)
        {
            Assert.Contains($"[drone {id}] oracle {oracle} passed on drone {id}", output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("phases", "3")]
    [InlineData("random", "4")]
    [InlineData("runs", "4")]
    public void Oracle_DronesAsProcesses_CollectingAtEveryBarrier_Passes(string oracle, string drones)
    {
        var (exit, output, error) = AppProcess.Run(
            "HiveMind.OracleDrone", Timeout, "--drones", drones, "--oracle", oracle, "--seed", "45", "--heap-size", "1MiB", "--gc-threshold", "1");
        Assert.True(exit == 0, $"oracle {oracle} on {drones} drones with --gc-threshold 1 exited {exit}:\n{output}\n{error}");
        Assert.Contains($"oracle {oracle} passed on drone 0", output, StringComparison.Ordinal);
        Assert.Matches(@"GC runs\s*│\s*[1-9]", output); // drone 0's statistics table shows the collections
    }

    [Fact]
    public void Oracle_UnknownName_ExitsTwoNamingIt()
    {
        var (exit, _, error) = AppProcess.Run("HiveMind.OracleDrone", Timeout, "--oracle", "nonsense", "--heap-size", "1MiB", "--quiet");
        Assert.True(exit == 2, $"exit {exit}: {error}");
        Assert.Contains("--oracle: 'nonsense' is not one of", error, StringComparison.Ordinal);
    }
}
