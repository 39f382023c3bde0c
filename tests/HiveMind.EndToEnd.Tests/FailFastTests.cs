using System.Diagnostics;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// Failures a user can trust: a program that does not say it recovers stops when a drone fails, naming it; a start
/// that cannot succeed stops at once, naming the drone and why; a heap larger than the machine starts.
/// </summary>
public sealed class FailFastTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Jacobi as a new user writes it (no failure handling), with drone 2 throwing at sweep 5: the run stops on every
    /// drone with exit code 6, and drone 0 names drone 2, how its process ended and its last error line. Never a result.
    /// </summary>
    [Fact]
    public void Jacobi_ADroneThrows_RunStopsNamingItWithExitCodeSix()
    {
        var (exit, output, error) = AppProcess.Run(
            "HiveMind.OracleDrone", Timeout, "--drones", "3", "--oracle", "jacobi", "--crash-at", "2:5", "--heap-size", "16MiB", "--quiet");
        Assert.True(exit == 6, $"Jacobi with drone 2 throwing at sweep 5 exited {exit}, expected 6 (a drone failed):\n{output}\n{error}");
        Assert.DoesNotContain("JACOBI sum=", output, StringComparison.Ordinal);
        Assert.True(error.Contains("drone 0: the run stopped: drone 2 failed and the program does not recover from failures", StringComparison.Ordinal), $"drone 0 did not name drone 2 as the drone that failed:\n{error}");
        Assert.Contains("drone 2 on this machine (process ", error, StringComparison.Ordinal);
        Assert.Contains("exited with code 1; its last error lines:", error, StringComparison.Ordinal);
        Assert.Contains("a bug in sweep 5 (injected with --crash-at)", error, StringComparison.Ordinal);
        Assert.Contains("[drone 1] hivemind.oracledrone: drone 1: the run stopped: drone 2 failed", error, StringComparison.Ordinal);
    }

    /// <summary>A drone that exits before it joins stops the start at once (not after the 60 s the mesh may take), naming it, its exit code and its last line.</summary>
    [Fact]
    public void Start_ADroneExitsBeforeJoining_StopsAtOnceWithExitCodeFive()
    {
        var clock = Stopwatch.StartNew();
        var (exit, output, error) = AppProcess.RunWith(
            new Dictionary<string, string> { ["HIVEMIND_FAULT"] = "exit-at-start:2:42" },
            "HiveMind.OracleDrone", Timeout, "--drones", "3", "--oracle", "phases", "--heap-size", "16MiB", "--quiet");
        var took = clock.Elapsed;
        Assert.True(exit == 5, $"a start whose drone 2 exited with 42 ended with {exit}, expected 5:\n{output}\n{error}");
        Assert.Contains("cannot start the run: drone 0: the run cannot form: drone 2 on this machine (process ", error, StringComparison.Ordinal);
        Assert.Contains("exited with code 42; its last error lines:", error, StringComparison.Ordinal);
        Assert.Contains("fault injected: drone 2 exits at start with code 42", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal); // no stack trace
        Assert.True(took < TimeSpan.FromSeconds(30), $"the start took {took.TotalSeconds:F1} s to give up on a drone that exited at once");
    }

    /// <summary>A drone that exits once linked, before the start barrier: the start stops, naming it (exit 5, not a stack trace).</summary>
    [Fact]
    public void Start_ADroneExitsBeforeTheStartBarrier_StopsNamingIt()
    {
        var (exit, output, error) = AppProcess.RunWith(
            new Dictionary<string, string> { ["HIVEMIND_FAULT"] = "exit-at-start-barrier:1:43" },
            "HiveMind.OracleDrone", Timeout, "--drones", "3", "--oracle", "phases", "--heap-size", "16MiB", "--quiet");
        Assert.True(exit == 5, $"a start whose drone 1 exited before the start barrier ended with {exit}, expected 5:\n{output}\n{error}");
        Assert.Contains("cannot start the run: drone 0: the run stopped before it started: drone 1 failed", error, StringComparison.Ordinal);
        Assert.Contains("exited with code 43", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    /// <summary>A drone that cannot reach drone 0 says which address, and drone 0 stops the start with its words.</summary>
    [Fact]
    public void Start_ADroneCannotReachDroneZero_SaysTheAddress()
    {
        var (exit, output, error) = AppProcess.RunWith(
            new Dictionary<string, string> { ["HIVEMIND_FAULT"] = "unreachable:1" },
            "HiveMind.OracleDrone", Timeout, "--drones", "3", "--oracle", "phases", "--heap-size", "16MiB", "--quiet");
        Assert.True(exit == 5, $"a start whose drone 1 could not reach drone 0 ended with {exit}, expected 5:\n{output}\n{error}");
        Assert.Matches(@"\[drone 1\] hivemind\.oracledrone: cannot start the run: drone 1: cannot connect to drone 0 at 127\.0\.0\.1:\d+: Connection refused", error);
        Assert.Contains("drone 0: the run cannot form: drone 1 on this machine (process ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    /// <summary>"Untouched pages cost no memory": a 1 TiB heap starts on this machine and QuickSort runs in it on 2 drones.</summary>
    [Fact]
    public void Heap_OneTiB_StartsAndSorts()
    {
        var (exit, output, error) = AppProcess.Run(
            "QuickSort", Timeout, "--drones", "2", "--heap-size", "1TiB", "--count", "200000", "--no-progress", "--quiet");
        Assert.True(exit == 0, $"QuickSort in a 1 TiB heap exited {exit}:\n{output}\n{error}");
        Assert.Contains("verified=1", output, StringComparison.Ordinal);
    }

    /// <summary>A heap the OS will not reserve is an options error naming the size, not an abort.</summary>
    [Fact]
    public async Task Heap_OverTheAddressSpaceLimit_IsAnOptionsErrorNamingTheSize()
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"ulimit -v 40000000 && exec dotnet '{AppProcess.AppPath("QuickSort")}' --heap-size 1TiB --count 1000 --quiet --no-progress");
        using var process = Process.Start(start)!;
        using var limit = new CancellationTokenSource(Timeout);
        var error = process.StandardError.ReadToEndAsync(limit.Token);
        var output = await process.StandardOutput.ReadToEndAsync(limit.Token);
        await process.WaitForExitAsync(limit.Token);
        Assert.True(process.ExitCode == 2, $"QuickSort with a heap over ulimit -v exited {process.ExitCode}, expected 2:\n{output}\n{await error}");
        Assert.Contains("--heap-size 1TiB: The OS refused to reserve", await error, StringComparison.Ordinal);
        Assert.Contains("(1 TiB)", await error, StringComparison.Ordinal);
    }
}
