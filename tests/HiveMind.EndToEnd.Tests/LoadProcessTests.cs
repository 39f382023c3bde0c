using System.Globalization;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// Load a real program makes every day, with drones as processes (tests/HiveMind.OracleDrone): no healthy drone may be
/// removed and no write lost, whatever the page size or the size of what drones owe each other.
/// </summary>
public sealed class LoadProcessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    /// <summary>Two drones each write 12 MiB and then read the other's as one span: both serve large diff requests at once.</summary>
    [Fact]
    public void Exchange_TwelveMiBBothWaysAtOnce_NoDroneRemovedAndEveryWordArrives()
    {
        var (exit, output, error) = AppProcess.Run(
            "HiveMind.OracleDrone", Timeout, "--drones", "2", "--oracle", "exchange", "--bytes", (12 << 20).ToString(CultureInfo.InvariantCulture), "--heap-size", "64MiB", "--quiet");
        AssertPassed("exchange of 12 MiB both ways on 2 drones", exit, output, error, drones: 2);
    }

    /// <summary>
    /// Drones 1 and 2 rewrite the same 64 pages 100 times each under one lock, at the default page size and settings;
    /// drone 0 then reads the 64 pages as one span: one writer owes it about 26 MB of diffs, which must come in replies
    /// that fit the frame limit.
    /// </summary>
    [Fact]
    public void Rewrite_SixtyFourPagesByTurns_DroneZeroReadsTheLastWrites()
    {
        var (exit, output, error) = AppProcess.Run(
            "HiveMind.OracleDrone", Timeout, "--drones", "3", "--oracle", "rewrite", "--pages", "64", "--rounds", "200", "--heap-size", "64MiB");
        AssertPassed("64 pages rewritten 200 times by turns", exit, output, error, drones: 3);
    }

    /// <summary>
    /// Both patterns at page sizes up to the largest: at 16 MiB one whole-page transfer is already 16 MiB, and a writer of
    /// 9 pages owes 144 MiB of whole-page diffs at once, more than the frame limit.
    /// </summary>
    [Theory]
    [InlineData(4096, 64, 40)]
    [InlineData(65536, 32, 20)]
    [InlineData(1048576, 8, 20)]
    [InlineData(16777216, 9, 4)]
    public void PageSizes_ExchangeAndRewrite_Pass(int pageSize, int pages, int rounds)
    {
        var size = pageSize.ToString(CultureInfo.InvariantCulture);
        var heap = Math.Max(64L << 20, (pages + 2L) * pageSize).ToString(CultureInfo.InvariantCulture);
        var (exit, output, error) = AppProcess.Run(
            "HiveMind.OracleDrone", Timeout, "--drones", "3", "--oracle", "rewrite", "--page-size", size, "--pages", pages.ToString(CultureInfo.InvariantCulture),
            "--rounds", rounds.ToString(CultureInfo.InvariantCulture), "--heap-size", heap, "--quiet");
        AssertPassed($"rewrite with pages of {pageSize} bytes", exit, output, error, drones: 3);
        (exit, output, error) = AppProcess.Run(
            "HiveMind.OracleDrone", Timeout, "--drones", "2", "--oracle", "exchange", "--page-size", size, "--bytes", (32 << 20).ToString(CultureInfo.InvariantCulture),
            "--heap-size", "128MiB", "--quiet");
        AssertPassed($"exchange of 32 MiB with pages of {pageSize} bytes", exit, output, error, drones: 2);
    }

    /// <summary>A drone computes for 4 s between barriers with a failure timeout of 400 ms: healthy, it is not removed.</summary>
    [Fact]
    public void LongHealthyPhase_FarLongerThanTheFailureTimeout_NobodyIsRemoved()
    {
        var (exit, output, error) = AppProcess.Run(
            "HiveMind.OracleDrone", Timeout, "--drones", "3", "--oracle", "long-phase", "--phase-ms", "4000", "--heartbeat-ms", "100", "--failure-timeout-ms", "400",
            "--heap-size", "1MiB", "--quiet");
        AssertPassed("a 4 s phase with a 400 ms failure timeout", exit, output, error, drones: 3);
        Assert.DoesNotContain("view 1", output + error, StringComparison.Ordinal);
    }

    /// <summary>With --wait-limit, a barrier that a live but slow drone does not reach in time fails with the limit named.</summary>
    [Fact]
    public void WaitLimit_BarrierNotReachedInTime_FailsNamingTheLimit()
    {
        var (exit, output, error) = AppProcess.Run(
            "HiveMind.OracleDrone", Timeout, "--drones", "2", "--oracle", "long-phase", "--phase-ms", "8000", "--wait-limit", "1500ms", "--heap-size", "1MiB", "--quiet");
        Assert.True(exit != 0, $"drone 0 waited past --wait-limit 1500ms for a barrier drone 1 reached after 8 s, and exited {exit}:\n{output}\n{error}");
        Assert.Contains("barrier 1 did not complete within the wait limit of 1.5 s (--wait-limit)", error, StringComparison.Ordinal);
    }

    private static void AssertPassed(string what, int exit, string output, string error, int drones)
    {
        Assert.True(exit == 0, $"{what}: exited {exit}:\n{output}\n{error}");
        Assert.DoesNotContain("failed:", error, StringComparison.Ordinal);
        for (var id = 0; id < drones; id++)
        {
            Assert.Contains($"passed on drone {id}", output, StringComparison.Ordinal);
        }
    }
}
