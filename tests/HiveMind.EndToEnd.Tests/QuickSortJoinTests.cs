using System.Globalization;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// A drone joins a running QuickSort: 3 drones start with room for 4 (--max-drones) and, after their warm-up sort,
/// drone 0 waits for a join request before the timed sort (--await-joiners). The joiner, a separate process started
/// with --join and the key file, is admitted at that barrier, takes tasks, and the run completes and verifies.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class QuickSortJoinTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);
    private readonly string _folder = Directory.CreateTempSubdirectory("hivemind-join-").FullName;

    [Fact]
    public void QuickSort_DroneJoinsMidRun_TakesWorkAndTheRunVerifies()
    {
        var key = Path.Combine(_folder, "cluster.key");
        string[] sort = ["--count", "2000000", "--seed", "5", "--no-progress", "--quiet", "--heartbeat-ms", "100", "--failure-timeout-ms", "2000"];
        using var run = new LiveProcess("QuickSort", null, [.. sort, "--drones", "3", "--max-drones", "4", "--key-file", key, "--await-joiners", "1"]);
        var offer = run.WaitForLine(@"drone 0: up to 1 more drone\(s\) may join: --join (\S+) --key-file", Step, "drone 0 offering the run to joiners");
        run.WaitForLine("drone 0 waits for 1 joiner", Step, "drone 0 done with the warm-up sort and waiting for the joiner");

        using var joiner = new LiveProcess("QuickSort", null, [.. sort, "--join", offer.Groups[1].Value, "--key-file", key]);
        var joined = joiner.WaitForLine(@"JOINED drone=(\d+) barrier=(\d+) sorted=(\d+)", Step, "the joiner finishing its part");
        Assert.True(joined.Groups[1].Value == "3" && joined.Groups[2].Value == "2", $"the joiner was drone {joined.Groups[1].Value} admitted at barrier {joined.Groups[2].Value}, expected drone 3 at barrier 2 (the timed sort's start):\n{joiner.Output}");
        var sorted = long.Parse(joined.Groups[3].Value, CultureInfo.InvariantCulture);
        Assert.True(sorted > 0, $"the joiner (drone 3) sorted no element of 2,000,000:\n{joiner.Output}");
        Assert.True(joiner.WaitForExit(Step) == 0, $"the joiner exited with an error:\n{joiner.Output}");

        var exit = run.WaitForExit(Step);
        Assert.True(exit == 0, $"QuickSort exited {exit} with drone 3 joined:\n{run.Output}");
        Assert.Contains("verified=1", run.Output, StringComparison.Ordinal);
        Assert.Contains("drone 0: view 1: live 0,1,2,3", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Joiner_WithAnotherKey_IsRefused_AndARightfulJoinerStillGetsTheNextId()
    {
        var key = Path.Combine(_folder, "cluster.key");
        var wrong = Path.Combine(_folder, "wrong.key");
        File.WriteAllText(wrong, Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        File.SetUnixFileMode(wrong, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string[] sort = ["--count", "300000", "--no-progress", "--quiet"];
        using var run = new LiveProcess("QuickSort", null, [.. sort, "--drones", "2", "--max-drones", "3", "--key-file", key, "--await-joiners", "1"]);
        var offer = run.WaitForLine(@"may join: --join (\S+) --key-file", Step, "drone 0 offering the run to joiners");
        run.WaitForLine("drone 0 waits for 1 joiner", Step, "drone 0 done with the warm-up sort and waiting for the joiner");

        var stranger = AppProcess.Run("QuickSort", Step, [.. sort, "--join", offer.Groups[1].Value, "--key-file", wrong]);
        Assert.True(stranger.ExitCode == 5, $"a joiner with another key exited {stranger.ExitCode}, expected 5:\n{stranger.Output}\n{stranger.Error}");
        Assert.Contains($"cannot start the run: cannot join the run at {offer.Groups[1].Value}", stranger.Error, StringComparison.Ordinal);

        var rightful = AppProcess.Run("QuickSort", Step, [.. sort, "--join", offer.Groups[1].Value, "--key-file", key]);
        Assert.True(rightful.ExitCode == 0, $"the joiner with the run's key exited {rightful.ExitCode}:\n{rightful.Output}\n{rightful.Error}");
        Assert.Contains("JOINED drone=2 barrier=2", rightful.Output, StringComparison.Ordinal);
        Assert.True(run.WaitForExit(Step) == 0, $"the run failed after a stranger tried to join:\n{run.Output}");
        Assert.Contains("verified=1", run.Output, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
