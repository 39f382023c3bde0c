using System.Globalization;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// QuickSort on 4 drones with drone 2 killed (SIGKILL) at a chosen moment: the run must finish and verify. The
/// app's --stall-at makes drone 2 stop for good at that moment and say so, and the test kills it there.
/// </summary>
public sealed class QuickSortFailureTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData("queue-lock", "2")] // holding the queue lock, right after taking a task
    [InlineData("queue-lock", "5")]
    [InlineData("partition", "1")] // with a partitioned range not yet released
    [InlineData("partition", "3")]
    [InlineData("barrier", "1")] // all its work done and counted, none of it taken in by another drone
    public void QuickSort_DroneKilled_RunCompletesAndVerifies(string point, string nth)
    {
        using var run = new LiveProcess(
            "QuickSort", null, "--drones", "4", "--count", "1000000", "--seed", "3", "--no-progress", "--quiet",
            "--heartbeat-ms", "100", "--failure-timeout-ms", "1000", "--stall-at", $"{point}:2:{nth}");
        var stalled = run.WaitForLine(@"STALL drone 2 at \w+ pid=(\d+)", Step, $"drone 2 reaching {point} the {nth}th time");
        using (var victim = ProcessTable.TryGet(int.Parse(stalled.Groups[1].Value, CultureInfo.InvariantCulture)))
        {
            Assert.NotNull(victim);
            victim.Kill();
        }

        run.WaitForLine(@"drone \d: drone 2 failed; its \d+ range\(s\) go back to the queue", Step, $"a live drone putting back drone 2's ranges after the kill at {point} #{nth}");
        var exit = run.WaitForExit(Step);
        Assert.True(exit == 0, $"QuickSort exited {exit} after drone 2 was killed at {point} #{nth}:\n{run.Output}");
        Assert.Contains("VERIFIED", run.Output, StringComparison.Ordinal);
        Assert.Contains("verified=1", run.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// Drone 2 killed at a point inside the engine, reached through a fault point (HIVEMIND_FAULT): while it makes a
    /// diff reply another drone waits for, and between the two barriers of a garbage collection (every barrier collects).
    /// </summary>
    [Theory]
    [InlineData("serve-diff", "3", "64MiB")]
    [InlineData("collect", "1", "1")]
    [InlineData("collect", "2", "1")]
    public void QuickSort_DroneKilledInsideTheEngine_RunCompletesAndVerifies(string point, string nth, string gcThreshold)
    {
        using var run = new LiveProcess(
            "QuickSort", null, new Dictionary<string, string> { ["HIVEMIND_FAULT"] = $"stall:{point}:2:{nth}" },
            "--drones", "4", "--count", "1000000", "--seed", "4", "--no-progress", "--quiet", "--heartbeat-ms", "100", "--failure-timeout-ms", "1000",
            "--gc-threshold", gcThreshold);
        var stalled = run.WaitForLine($@"STALLED at {point} on drone 2 pid=(\d+)", Step, $"drone 2 reaching {point} the {nth}th time");
        using (var victim = ProcessTable.TryGet(int.Parse(stalled.Groups[1].Value, CultureInfo.InvariantCulture)))
        {
            Assert.NotNull(victim);
            victim.Kill();
        }

        var exit = run.WaitForExit(Step);
        Assert.True(exit == 0, $"QuickSort exited {exit} after drone 2 was killed at {point} #{nth}:\n{run.Output}");
        Assert.Contains("verified=1", run.Output, StringComparison.Ordinal);
        Assert.Matches(@"drone 0: view \d+: live [\d,]+, removed 2", run.Output);
    }
}
