namespace HiveMind.EndToEnd.Tests;

/// <summary>The programs in examples/, which users copy from: each runs verified on local drones.</summary>
public sealed class ExamplesTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Theory]
    [InlineData("Histogram", "2", new[] { "--values", "1000000", "--buckets", "700" }, "histogram of 1000000 values in 700 buckets on 2 drones: VERIFIED")]
    [InlineData("Histogram", "3", new[] { "--values", "300001", "--seed", "5" }, "histogram of 300001 values in 1024 buckets on 3 drones: VERIFIED")]
    [InlineData("JacobiSweep", "2", new[] { "--size", "256", "--sweeps", "12" }, "jacobi 256x256, 12 sweeps on 2 drones: VERIFIED")]
    [InlineData("JacobiSweep", "3", new[] { "--size", "200", "--sweeps", "7", "--page-size", "16384" }, "jacobi 200x200, 7 sweeps on 3 drones: VERIFIED")]
    public void Example_OnLocalDrones_Verifies(string example, string drones, string[] args, string expected)
    {
        var (exit, output, error) = AppProcess.Run(example, Timeout, ["--drones", drones, .. args]);
        Assert.True(exit == 0, $"{example} --drones {drones} {string.Join(' ', args)} exited {exit}:\n{output}\n{error}");
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.Contains("total", output, StringComparison.Ordinal); // the run's statistics table, printed by Tmk.Run
    }

    [Theory]
    [InlineData("Histogram", new[] { "--buckets", "0" }, "--buckets: must be 1 to 16777216, not 0.")]
    [InlineData("JacobiSweep", new[] { "--size", "2" }, "--size: must be 3 to 16384, not 2.")]
    public void Example_WithABadOption_SaysWhichAndExitsTwo(string example, string[] args, string expected)
    {
        var (exit, output, error) = AppProcess.Run(example, Timeout, args);
        Assert.True(exit == 2, $"{example} {string.Join(' ', args)} exited {exit}, not 2 (bad options):\n{output}\n{error}");
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}
