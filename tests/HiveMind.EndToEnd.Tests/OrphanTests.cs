using System.Diagnostics;

namespace HiveMind.EndToEnd.Tests;

public sealed class OrphanTests
{
    [Fact]
    public void KillDroneZero_OtherDronesExit_NoOrphans()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { AppProcess.AppPath("QuickSort"), "--drones", "3", "--count", "60000000", "--heap-size", "512MiB", "--no-progress", "--quiet" })
        {
            start.ArgumentList.Add(arg);
        }

        using var droneZero = Process.Start(start)!;
        droneZero.BeginOutputReadLine();
        droneZero.BeginErrorReadLine();
        var children = new List<int>();
        try
        {
            // Wait for drone 0 to have started both other drones (its direct children in the process table).
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while ((children = ChildrenOf(droneZero.Id)).Count < 2)
            {
                Assert.False(droneZero.WaitForExit(50), $"drone 0 exited with {(droneZero.HasExited ? droneZero.ExitCode : 0)} before starting its drones");
                Assert.True(DateTime.UtcNow < deadline, $"drone 0 (pid {droneZero.Id}) started {children.Count} of 2 drones within 60 s");
            }

            droneZero.Kill(); // SIGKILL: no chance to clean up
            droneZero.WaitForExit();
            foreach (var pid in children)
            {
                using var child = TryGet(pid);
                Assert.True(child is null || child.WaitForExit(TimeSpan.FromSeconds(20)),
                    $"drone process {pid} was still running 20 s after drone 0 (pid {droneZero.Id}) was killed: an orphan");
            }
        }
        finally
        {
            foreach (var pid in children)
            {
                using var child = TryGet(pid);
                child?.Kill();
            }
        }
    }

    private static List<int> ChildrenOf(int parent)
    {
        var children = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) == parent)
                {
                    children.Add(pid);
                }
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
        }

        return children;
    }

    private static Process? TryGet(int pid)
    {
        try
        {
            return Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return null; // already gone
        }
    }
}
