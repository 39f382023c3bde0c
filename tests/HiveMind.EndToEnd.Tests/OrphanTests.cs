using System.Diagnostics;

namespace HiveMind.EndToEnd.Tests;

public sealed class OrphanTests
{
    [Fact]
    public void KillDroneZero_OtherDronesExit_NoOrphans()
    {
        var start = AppProcess.StartInfo(null, "QuickSort", ["--drones", "3", "--count", "60000000", "--heap-size", "512MiB", "--no-progress", "--quiet"]);

        using var droneZero = Process.Start(start)!;
        droneZero.BeginOutputReadLine();
        droneZero.BeginErrorReadLine();
        var children = new List<int>();
        try
        {
            // Wait for drone 0 to have started both other drones (its direct children in the process table).
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while ((children = ProcessTable.ChildrenOf(droneZero.Id)).Count < 2)
            {
                Assert.False(droneZero.WaitForExit(50), $"drone 0 exited with {(droneZero.HasExited ? droneZero.ExitCode : 0)} before starting its drones");
                Assert.True(DateTime.UtcNow < deadline, $"drone 0 (pid {droneZero.Id}) started {children.Count} of 2 drones within 60 s");
            }

            droneZero.Kill(); // SIGKILL: no chance to clean up
            droneZero.WaitForExit();
            foreach (var pid in children)
            {
                using var child = ProcessTable.TryGet(pid);
                Assert.True(child is null || child.WaitForExit(TimeSpan.FromSeconds(20)),
                    $"drone process {pid} was still running 20 s after drone 0 (pid {droneZero.Id}) was killed: an orphan");
            }
        }
        finally
        {
            foreach (var pid in children)
            {
                using var child = ProcessTable.TryGet(pid);
                child?.Kill();
            }
        }
    }
}
