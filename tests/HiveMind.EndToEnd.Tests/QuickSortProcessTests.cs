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
        for (var id = 1; id < int.Parse(drones, System.Globalization.CultureInfo.InvariantCulture); id++)
        {
            Assert.Contains($"[drone {id}] ", output, StringComparison.Ordinal); // each drone's statistics, prefixed
        }
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
