using System.Diagnostics;

namespace HiveMind.EndToEnd.Tests;

/// <summary>The ssh launcher against a real Debian sshd on loopback, started by the test with generated keys.</summary>
public sealed class SshLaunchTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public void QuickSort_ThreeDronesOverSsh_SortsAndVerifies()
    {
        using var keys = new SshServer.Keys();
        using var sshd = SshServer.Start(keys, "127.0.0.1", SshServer.FreeLoopbackPort());
        var work = Path.Combine(keys.Folder, "work");
        var config = SshServer.WriteConfig(keys, work, ["127.0.0.1", "127.0.0.1", "127.0.0.1"], sshd.Port);

        var (exit, output, error) = AppProcess.Run(
            "QuickSort", Timeout, "--config", config, "--count", "300000", "--seed", "9", "--threshold", "2048", "--no-progress");

        Assert.True(exit == 0, $"QuickSort over ssh (sshd 127.0.0.1:{sshd.Port}) exited {exit}:\n{output}\n{error}\nsshd log:\n{sshd.Log}");
        Assert.Contains("VERIFIED", output, StringComparison.Ordinal);
        Assert.Contains("RESULT drones=3 ", output, StringComparison.Ordinal);
        Assert.Matches(@"statistic\s+│\s+drone 0\s+│\s+drone 1\s+│\s+drone 2\s+│\s+total", output); // the remote drones' reports reached drone 0
        Assert.True(File.Exists(Path.Combine(work, "QuickSort", "QuickSort.dll")), $"the program was not copied to the work folder {work}/QuickSort");
    }

    [Fact]
    public void QuickSort_OnASharedFileSystem_RunsFromDroneZerosFolderWithoutCopying()
    {
        using var keys = new SshServer.Keys();
        using var sshd = SshServer.Start(keys, "127.0.0.1", SshServer.FreeLoopbackPort());
        var work = Path.Combine(keys.Folder, "work");
        var config = SshServer.WriteConfig(keys, work, ["127.0.0.1", "127.0.0.1"], sshd.Port, new() { ["copyProgram"] = false });

        var (exit, output, error) = AppProcess.Run("QuickSort", Timeout, "--config", config, "--count", "200000", "--seed", "3", "--no-progress", "--quiet");

        Assert.True(exit == 0, $"QuickSort over ssh with copyProgram false exited {exit}:\n{output}\n{error}\nsshd log:\n{sshd.Log}");
        Assert.Contains("RESULT drones=2 ", output, StringComparison.Ordinal);
        Assert.Contains(" verified=1 ", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(work), $"copyProgram false, yet the work folder {work} was made");
    }

    [Fact]
    public void QuickSort_PublishedAsOneFile_RunsAsItselfOnTheOtherHosts()
    {
        var program = Path.Combine(RepositoryRoot.Path, "artifacts", "single-file", "QuickSort");
        Assert.True(File.Exists(program), $"{program} is missing: ./test.sh publishes it before the tests");
        Assert.False(File.Exists(program + ".dll"), $"{program}.dll is there: the program is not published as one file");
        using var keys = new SshServer.Keys();
        using var sshd = SshServer.Start(keys, "127.0.0.1", SshServer.FreeLoopbackPort());
        var work = Path.Combine(keys.Folder, "work");
        var config = SshServer.WriteConfig(keys, work, ["127.0.0.1", "127.0.0.1", "127.0.0.1"], sshd.Port);

        var (exit, output) = ToolProcess.Run(
            null, program, new Dictionary<string, string>(), Timeout, () => $"sshd log:\n{sshd.Log}", "--config", config, "--count", "200000", "--seed", "4", "--no-progress", "--quiet");

        Assert.True(exit == 0, $"single-file QuickSort over ssh exited {exit}:\n{output}\nsshd log:\n{sshd.Log}");
        Assert.Contains("RESULT drones=3 ", output, StringComparison.Ordinal);
        Assert.Contains(" verified=1 ", output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(work, "QuickSort", "QuickSort")), $"the single-file program was not copied to {work}/QuickSort");
    }

    [Fact]
    public void SshLaunch_HostRefusesTheKey_FailsNamingHostAndSshError()
    {
        using var keys = new SshServer.Keys();
        using var sshd = SshServer.Start(keys, "127.0.0.1", SshServer.FreeLoopbackPort());
        var config = SshServer.WriteConfig(
            keys, Path.Combine(keys.Folder, "work"), ["127.0.0.1", "127.0.0.1"], sshd.Port,
            new() { ["identityFile"] = keys.HostKey }); // a key sshd does not accept

        var (exit, output, error) = AppProcess.Run("QuickSort", Timeout, "--config", config, "--count", "1000", "--no-progress");

        Assert.True(exit == 5, $"QuickSort with a refused key exited {exit}, expected 5:\n{output}\n{error}");
        Assert.Contains($"drone 1 on 127.0.0.1 (ssh port {sshd.Port})", error, StringComparison.Ordinal);
        Assert.Contains("Permission denied (publickey)", error, StringComparison.Ordinal);
    }

    [Fact]
    public void SshLaunch_HostUnreachable_FailsNamingHostAndSshError()
    {
        using var keys = new SshServer.Keys();
        var port = SshServer.FreeLoopbackPort(); // nothing listens there
        var config = SshServer.WriteConfig(keys, Path.Combine(keys.Folder, "work"), ["127.0.0.1", "127.0.0.1"], port);

        var (exit, output, error) = AppProcess.Run("QuickSort", Timeout, "--config", config, "--count", "1000", "--no-progress");

        Assert.True(exit == 5, $"QuickSort with no sshd on port {port} exited {exit}, expected 5:\n{output}\n{error}");
        Assert.Contains($"drone 1 on 127.0.0.1 (ssh port {port})", error, StringComparison.Ordinal);
        Assert.Contains("Connection refused", error, StringComparison.Ordinal);
    }

    [Fact]
    public void SshLaunch_DroneZeroKilled_RemoteDronesAndSshClientsExit()
    {
        using var keys = new SshServer.Keys();
        using var sshd = SshServer.Start(keys, "127.0.0.1", SshServer.FreeLoopbackPort());
        var work = Path.Combine(keys.Folder, "work");
        var config = SshServer.WriteConfig(keys, work, ["127.0.0.1", "127.0.0.1", "127.0.0.1"], sshd.Port, new() { ["heapSize"] = "512MiB" });
        var start = AppProcess.StartInfo(null, "QuickSort", ["--config", config, "--count", "60000000", "--no-progress", "--quiet"]);

        using var droneZero = Process.Start(start)!;
        droneZero.BeginOutputReadLine();
        droneZero.BeginErrorReadLine();
        var remote = new List<int>();
        var clients = new List<int>();
        try
        {
            // The remote drones run in the copied folder, started by sshd; the ssh clients are drone 0's children.
            var folder = Path.Combine(work, "QuickSort");
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while ((remote = ProcessTable.RunningIn(folder)).Count < 2)
            {
                Assert.False(droneZero.WaitForExit(50), $"drone 0 exited with {(droneZero.HasExited ? droneZero.ExitCode : 0)} before its remote drones ran");
                Assert.True(DateTime.UtcNow < deadline, $"{remote.Count} of 2 remote drones were running in {folder} within 60 s");
            }

            clients = ProcessTable.ChildrenOf(droneZero.Id);
            droneZero.Kill(); // SIGKILL: no chance to clean up
            droneZero.WaitForExit();
            foreach (var pid in remote.Concat(clients))
            {
                using var process = ProcessTable.TryGet(pid);
                Assert.True(process is null || process.WaitForExit(TimeSpan.FromSeconds(20)),
                    $"process {pid} ({(remote.Contains(pid) ? "remote drone" : "ssh client")}) was still running 20 s after drone 0 (pid {droneZero.Id}) was killed: an orphan");
            }
        }
        finally
        {
            foreach (var pid in remote.Concat(clients))
            {
                using var process = ProcessTable.TryGet(pid);
                process?.Kill();
            }
        }
    }
}
