namespace HiveMind.EndToEnd.Tests;

public sealed class QuickSortProcessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Theory]
    [InlineData("200000", "1", "64")]
    [InlineData("1000", "7", "16")]
    [InlineData("1", "3", "16")]
    [InlineData("300000", "11", "100000")]
    public void QuickSort_SingleDrone_SortsAndVerifies(string count, string seed, string threshold)
    {
        var (exit, output, error) = AppProcess.Run(
            "QuickSort", Timeout, "--count", count, "--seed", seed, "--threshold", threshold, "--heap-size", "64MiB", "--no-progress");
        Assert.True(exit == 0, $"QuickSort --count {count} --seed {seed} exited {exit}:\n{output}\n{error}");
        Assert.Contains("VERIFIED", output, StringComparison.Ordinal);
        Assert.Contains("speedup", output, StringComparison.Ordinal);
        Assert.Contains("write faults", output, StringComparison.Ordinal); // the statistics table
    }

    [Theory]
    [InlineData("2", "300000", "5")]
    [InlineData("3", "200000", "6")]
    [InlineData("4", "100000", "7")]
    public void QuickSort_LocalDrones_SortsAndVerifies(string drones, string count, string seed)
    {
        var (exit, output, error) = AppProcess.Run(
            "QuickSort", Timeout, "--drones", drones, "--count", count, "--seed", seed, "--threshold", "2048", "--heap-size", "64MiB", "--no-progress");
        Assert.True(exit == 0, $"QuickSort --drones {drones} --count {count} --seed {seed} exited {exit}:\n{output}\n{error}");
        Assert.Contains("VERIFIED", output, StringComparison.Ordinal);
        Assert.Contains("sent LockRequest", output, StringComparison.Ordinal); // statistics by message kind
        Assert.Contains("sent DiffRequest", output, StringComparison.Ordinal);
        // One table for the whole run, on drone 0: a column per drone and the total; the other drones print none.
        var header = string.Join(@"\s+│\s+", Enumerable.Range(0, int.Parse(drones, System.Globalization.CultureInfo.InvariantCulture)).Select(id => $"drone {id}"));
        Assert.Matches($@"statistic\s+│\s+{header}\s+│\s+total", output);
        Assert.Equal(1, System.Text.RegularExpressions.Regex.Count(output, "write faults"));
        Assert.DoesNotContain("[drone 1] │", output, StringComparison.Ordinal);
    }

    [Fact]
    public void QuickSort_LogLevelInformation_LogsToStandardErrorOnly()
    {
        var (exit, output, error) = AppProcess.Run("QuickSort", Timeout, "--drones", "2", "--count", "20000", "--no-progress", "--quiet", "--log-level", "information");
        Assert.True(exit == 0, $"QuickSort --log-level information exited {exit}:\n{output}\n{error}");
        Assert.Contains("drone 0: started, 2 drone(s)", error, StringComparison.Ordinal);
        Assert.Contains("[drone 1] ", error, StringComparison.Ordinal); // drone 1's log, through drone 0's standard error
        Assert.DoesNotContain("started, 2 drone(s)", output, StringComparison.Ordinal);

        var (quietExit, quietOutput, quietError) = AppProcess.Run("QuickSort", Timeout, "--count", "20000", "--no-progress", "--quiet", "--log-level", "none");
        Assert.True(quietExit == 0 && !quietError.Contains("drone 0:", StringComparison.Ordinal), $"QuickSort --log-level none exited {quietExit} and logged:\n{quietError}");
        Assert.Contains("VERIFIED", quietOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void QuickSort_Traced_VerifiesAndWritesTheRunsShiVizLogAndStatistics()
    {
        var folder = Directory.CreateTempSubdirectory("hivemind-trace-").FullName;
        try
        {
            var (trace, stats) = (Path.Combine(folder, "run.shiviz"), Path.Combine(folder, "stats.json"));
            var (exit, output, error) = AppProcess.Run(
                "QuickSort", Timeout, "--drones", "3", "--count", "200000", "--seed", "12", "--no-progress", "--quiet", "--trace", trace, "--stats-json", stats);
            Assert.True(exit == 0, $"QuickSort --drones 3 --trace exited {exit}:\n{output}\n{error}");
            Assert.Contains(" verified=1 ", output, StringComparison.Ordinal);
            var lines = File.ReadAllLines(trace);
            var parser = new System.Text.RegularExpressions.Regex(lines[0]);
            Assert.All(lines.Skip(2), line => Assert.Matches(parser, line));
            foreach (var drone in new[] { 0, 1, 2 })
            {
                Assert.Contains(lines, line => line.StartsWith($"drone{drone} ", StringComparison.Ordinal) && line.EndsWith("granted", StringComparison.Ordinal));
            }

            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(stats));
            Assert.Equal(3, json.RootElement.GetProperty("drones").GetArrayLength());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void QuickSort_ListenPortGiven_DroneZeroListensThere_AndTheDronesItStartsTakeFreePorts()
    {
        // --listen-port is drone 0's port; the drones it starts inherit the command line but must not bind the same port.
        var port = SshServer.FreeLoopbackPort();
        var (exit, output, error) = AppProcess.Run(
            "QuickSort", Timeout, "--drones", "3", "--listen-port", $"{port}", "--count", "100000", "--seed", "8", "--no-progress", "--quiet");
        Assert.True(exit == 0, $"QuickSort --drones 3 --listen-port {port} exited {exit}:\n{output}\n{error}");
        Assert.Contains("RESULT drones=3 ", output, StringComparison.Ordinal);
        Assert.Contains(" verified=1 ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void QuickSort_ListeningOnEveryInterface_TellsTheDronesItStartsALoopbackAddress()
    {
        var (exit, output, error) = AppProcess.Run(
            "QuickSort", Timeout, "--drones", "2", "--listen-address", "0.0.0.0", "--count", "100000", "--seed", "9", "--no-progress", "--quiet");
        Assert.True(exit == 0, $"QuickSort --drones 2 --listen-address 0.0.0.0 exited {exit}:\n{output}\n{error}");
        Assert.Contains("RESULT drones=2 ", output, StringComparison.Ordinal);
        Assert.Contains(" verified=1 ", output, StringComparison.Ordinal);
    }

    /// <summary>
    /// With --capacity the run also measures the machine's capacity (the sequential sort on every core at once) and
    /// reports the speedup as a fraction of it; every run reports the protocol messages of the sort, summed over drones.
    /// </summary>
    [Fact]
    public void QuickSort_WithCapacity_ReportsCapacityAndTheSortsMessages()
    {
        var (exit, output, error) = AppProcess.Run(
            "QuickSort", Timeout, "--drones", "2", "--count", "200000", "--seed", "3", "--threshold", "2048", "--heap-size", "64MiB", "--no-progress", "--capacity");
        Assert.True(exit == 0, $"QuickSort --capacity on 2 drones exited {exit}:\n{output}\n{error}");
        var result = System.Text.RegularExpressions.Regex.Match(output, @"RESULT .* speedup=([\d.]+) verified=1 .* messages=(\d+) capacity=([\d.]+) of_capacity=([\d.]+)");
        Assert.True(result.Success, $"no RESULT line with messages and capacity:\n{output}");
        double Field(int group) => double.Parse(result.Groups[group].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Field(2) > 0, $"the 2 drones' sort sent {Field(2)} protocol messages: {result.Value}");
        // A time ratio, so only its sign is the test's to check: on a shared machine the sequential baseline beside it is
        // disturbed (CI measured 3.09 on 2 cores), and a bound on it would time the run.
        Assert.True(Field(3) > 0 && double.IsFinite(Field(3)), $"capacity {Field(3)} of {Environment.ProcessorCount} sorts at once: {result.Value}");
        Assert.True(Math.Abs((Field(1) / Field(3)) - Field(4)) < 0.01, $"of_capacity {Field(4)} is not speedup {Field(1)} / capacity {Field(3)}: {result.Value}");
    }

    [Theory]
    [InlineData("--count 0", "--count: must be at least 1")]
    [InlineData("--drones 0", "--drones: must be at least 1")]
    [InlineData("--drones 999", "--drones: at most 256")]
    [InlineData("--page-size 1000", "--page-size: PageSize must be a power of two")]
    [InlineData("--heap-size lots", "--heap-size: 'lots' is not a positive byte count")]
    [InlineData("--heap-size 1MiB", "need")]
    [InlineData("--threshold 2", "--threshold: must be at least 16")]
    [InlineData("--bogus 1", "--bogus: unknown option")]
    [InlineData("--share-above -1", "--share-above: must not be negative")]
    [InlineData("--count many", "--count: the value is not valid")]
    public void QuickSort_BadOptions_ExitTwoNamingTheOption(string args, string expected)
    {
        var (exit, output, error) = AppProcess.Run("QuickSort", Timeout, args.Split(' '));
        Assert.True(exit == 2, $"QuickSort {args} exited {exit}, expected 2:\n{output}\n{error}");
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}
