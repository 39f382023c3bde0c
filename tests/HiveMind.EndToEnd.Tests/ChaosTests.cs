using System.Globalization;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// A false removal loses and corrupts nothing: QuickSort on 4 drones with a drone stopped (SIGSTOP) past the failure
/// timeout at a random moment of the sort, then continued (SIGCONT) once the run removed it. The live drones must
/// finish with a verified result; the removed drone must exit on its own with a clear message, taking nothing back into
/// the run. HIVEMIND_CHAOS_RUNS (default 3) runs, each with its own seed for the victim and the moment.
/// </summary>
public sealed class ChaosTests
{
    private const int SigKill = 9;
    private const int SigCont = 18;
    private const int SigStop = 19;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(90);

    [Fact]
    public void QuickSort_DroneStoppedPastTheTimeoutThenContinued_VerifiesEveryRun()
    {
        var runs = int.TryParse(Environment.GetEnvironmentVariable("HIVEMIND_CHAOS_RUNS"), out var n) && n > 0 ? n : 3;
        var results = new List<string>();
        for (var run = 0; run < runs; run++)
        {
            var rng = new Random(7000 + run);
            var victim = 1 + rng.Next(3);
            var delay = TimeSpan.FromMilliseconds(rng.Next(0, 300));
            results.Add(StopAndContinue(run, victim, delay));
        }

        Assert.True(results.All(r => r.StartsWith("verified", StringComparison.Ordinal)), string.Join("\n", results));
    }

    private static string StopAndContinue(int run, int victim, TimeSpan delay)
    {
        var what = $"run {run}: drone {victim} stopped {delay.TotalMilliseconds:F0} ms into the sort";
        using var quickSort = new LiveProcess(
            "QuickSort", null, "--drones", "4", "--count", "4000000", "--seed", (run + 1).ToString(CultureInfo.InvariantCulture), "--no-progress", "--quiet",
            "--heartbeat-ms", "100", "--failure-timeout-ms", "500", "--say-phases");
        var phase = quickSort.WaitForLine($@"PHASE drone={victim} sort pid=(\d+)", Step, $"{what}: the sort starting");
        var pid = int.Parse(phase.Groups[1].Value, CultureInfo.InvariantCulture);

        // The moment is chosen at random (a wall-clock offset into the sort), not waited for.
        Thread.Sleep(delay);
        Assert.True(LiveProcess.Signal(pid, SigStop), $"{what}: SIGSTOP to process {pid} failed");
        try
        {
            // Removed by the view drone 0 decides on its own observation of the silence (if the sort did not end first).
            var removed = quickSort.TryWaitForLine($@"drone 0: view \d+: live [\d,]+, removed {victim}\b", Step);
            Assert.True(LiveProcess.Signal(pid, SigCont), $"{what}: SIGCONT to process {pid} failed");
            if (removed is not null)
            {
                quickSort.WaitForLine($@"\[drone {victim}\] quicksort: drone {victim}: the run stopped: (drone 0 removed this drone from the run|drone 0 failed|drone 0 left)", Step, $"{what}: the continued drone saying it is out of the run");
            }
        }
        finally
        {
            LiveProcess.Signal(pid, SigCont);
        }

        var exit = quickSort.WaitForExit(Step);
        Assert.True(exit == 0, $"{what}: QuickSort exited {exit}:\n{quickSort.Output}");
        Assert.Contains("verified=1", quickSort.Output, StringComparison.Ordinal);
        var gone = ProcessTable.TryGet(pid);
        if (gone is not null && !gone.HasExited)
        {
            LiveProcess.Signal(pid, SigKill);
            Assert.Fail($"{what}: the removed drone's process {pid} outlived the run");
        }

        return $"verified: {what}";
    }
}
