using System.Globalization;
using System.Text.RegularExpressions;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// A key holder gone wrong inside a real QuickSort run: 3 drones with room for 64 (--max-drones, --key-file) wait before
/// the timed sort for a joiner (--await-joiners 1). Meanwhile a rogue process (HiveMind.OracleDrone rogue) that holds the
/// key joins the mesh under one id after another (drone 0 gives each an id, each links to every drone) and sends every
/// drone frames of every protocol kind with fields that name another drone, ids out of range, pages far outside the heap,
/// bodies of the wrong shape, random bytes, and bodies at and over the frame limit. Then a rightful joiner comes, and
/// the run must go on as if nothing happened: no crash, no hang, no healthy drone removed, the sort verified, and every
/// frame accounted for in the drones' logs (its link closed, or the frame refused, with the reason).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileMemberTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    // Every message kind of the protocol (ProtocolCodec), and the allocation requests: the rogue must have sent each.
    private static readonly string[] Kinds =
    [
        "LockRequest", "ForwardedLockRequest", "LockGrant", "BarrierArrival", "BarrierRelease", "DiffRequest", "DiffReply",
        "PageRequest", "PageReply", "Suspicion", "ViewChange", "LockReport", "LockReset", "JoinRequest", "JoinWelcome",
        "AllocateRequest", "FreeRequest",
    ];

    private readonly string _folder = Directory.CreateTempSubdirectory("hivemind-hostile-").FullName;

    [Fact]
    public void QuickSort_KeyHolderSendsEveryKindWrong_LinksCloseOrFramesAreRefusedWithReasons_AndTheRunVerifies()
    {
        var key = Path.Combine(_folder, "cluster.key");
        string[] settings = ["--gc-threshold", "8MiB", "--heap-size", "64MiB", "--heartbeat-ms", "100", "--failure-timeout-ms", "2000"];
        string[] sort = ["--count", "300000", "--seed", "9", "--no-progress", .. settings];
        using var run = new LiveProcess("QuickSort", null, [.. sort, "--drones", "3", "--max-drones", "64", "--key-file", key, "--await-joiners", "1"]);
        var offer = run.WaitForLine(@"drone 0: up to 61 more drone\(s\) may join: --join (\S+) --key-file", Step, "drone 0 offering the run to joiners").Groups[1].Value;
        run.WaitForLine("drone 0 waits for 1 joiner", Step, "drone 0 done with the warm-up sort and waiting for a joiner");

        using var rogue = new LiveProcess("HiveMind.OracleDrone", null, ["rogue", "--join", offer, "--key-file", key, "--drones", "3", .. settings]);
        var done = rogue.WaitForLine(@"^ROGUE (done stayer=(\d+) identities=(\d+) frames=(\d+)|FAILED: .*)$", Step, "the rogue sending every kind of bad frame to drones 0, 1 and 2");
        Assert.True(done.Value.StartsWith("ROGUE done", StringComparison.Ordinal), $"the rogue found a drone that did not refuse its frames as it must: {done.Value}\nrogue:\n{rogue.Output}\nrun:\n{run.Output}");
        Assert.True(rogue.WaitForExit(Step) == 0, $"the rogue exited with an error:\n{rogue.Output}");
        var stayer = done.Groups[2].Value;
        var identities = int.Parse(done.Groups[3].Value, CultureInfo.InvariantCulture);

        // The last id left when the rogue ended: a rightful joiner must not be sent to link with it.
        run.WaitForLine($@"drone 0: drone {stayer} failed: ", Step, $"drone 0 noticing that the rogue's last id (drone {stayer}) left");
        using var joiner = new LiveProcess("QuickSort", null, [.. sort, "--join", offer, "--key-file", key]);
        var joined = joiner.WaitForLine(@"JOINED drone=(\d+) barrier=(\d+) sorted=(\d+)", Step, "the rightful joiner finishing its part of the sort");
        var joinerId = int.Parse(joined.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(joinerId == 3 + identities && joined.Groups[2].Value == "2",
            $"the rightful joiner was drone {joinerId} admitted at barrier {joined.Groups[2].Value}, expected drone {3 + identities} (after the rogue's {identities} ids) at barrier 2:\n{joiner.Output}");
        Assert.True(joiner.WaitForExit(Step) == 0, $"the rightful joiner (drone {joinerId}) exited with an error:\n{joiner.Output}");

        var exit = run.WaitForExit(Step);
        var output = run.Output;
        Assert.True(exit == 0, $"QuickSort (drone 0) exited {exit} after the rogue:\n{output}");
        var result = Regex.Match(output, @"RESULT drones=3 elements=300000 .* verified=(\d) failed=(\d+) joined=(\d+)");
        Assert.True(result.Success, $"drone 0 printed no RESULT line:\n{output}");
        Assert.True(result.Groups[1].Value == "1", $"the sort did not verify after the rogue ({result.Value}):\n{output}");
        Assert.True(result.Groups[2].Value == "0" && result.Groups[3].Value == "1", $"expected no drone failed and the rightful joiner joined, got {result.Value}:\n{output}");
        foreach (var view in Regex.Matches(output, @"drone (\d+): view (\d+): live (\S+), removed (\S+)").Cast<Match>())
        {
            Assert.True(view.Groups[4].Value == "none", $"drone {view.Groups[1].Value} installed view {view.Groups[2].Value} that removed drone(s) {view.Groups[4].Value}: {view.Value}");
            Assert.True(view.Groups[3].Value == $"0,1,2,{joinerId}", $"drone {view.Groups[1].Value} installed view {view.Groups[2].Value} with live {view.Groups[3].Value}, expected 0,1,2,{joinerId} (the rogue is never admitted)");
        }

        // Every drone left the run normally: each sent drone 0 its statistics as it left, and drone 0's table has them all.
        Assert.Matches(@"statistic\s+│\s+drone 0\s+│\s+drone 1\s+│\s+drone 2\s+│", output);
        Assert.True(!output.Contains("total (", StringComparison.Ordinal), $"a drone's statistics did not reach drone 0 (it did not leave the run normally):\n{output}");

        foreach (var bad in new[] { "Unhandled exception", "the run stop", "exiting with code", "the program failed", "FAILED", "OutOfMemory", "StackOverflow" })
        {
            Assert.False(output.Contains(bad, StringComparison.Ordinal), $"a drone's output says '{bad}':\n{output}");
        }

        // Every frame the rogue sent is in the drones' logs: its link closed, or the frame refused, with the reason.
        var lines = output.Split('\n');
        var expectations = Regex.Matches(rogue.Output, @"^ROGUE expect (\S+) (.+?)\r?$", RegexOptions.Multiline).Select(m => (Case: m.Groups[1].Value, Fragments: m.Groups[2].Value.Split(" ... "))).ToList();
        Assert.True(expectations.Count > 3 * 40, $"the rogue announced only {expectations.Count} refusals to look for:\n{rogue.Output}");
        var missing = expectations
            .Where(e => !lines.Any(l => HoldsInOrder(l, e.Fragments)))
            .Select(e => $"case {e.Case}: no line with '{string.Join("', then '", e.Fragments)}'")
            .ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of the rogue's frames left no trace in the drones' logs:\n{string.Join('\n', missing)}\nrun:\n{output}");

        var sentKinds = Regex.Matches(rogue.Output, @"^ROGUE sent kind=(\S+) ", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet();
        var unsent = Kinds.Where(k => !sentKinds.Contains(k)).ToList();
        Assert.True(unsent.Count == 0, $"the rogue sent no frame of kind(s) {string.Join(", ", unsent)}");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Whether <paramref name="line"/> holds every fragment, each after the one before.</summary>
    private static bool HoldsInOrder(string line, string[] fragments)
    {
        var at = 0;
        foreach (var fragment in fragments)
        {
            var found = line.IndexOf(fragment, at, StringComparison.Ordinal);
            if (found < 0)
            {
                return false;
            }

            at = found + fragment.Length;
        }

        return true;
    }
}
