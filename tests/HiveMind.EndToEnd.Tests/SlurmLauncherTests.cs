namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// QuickSort started by Slurm, for real: Debian's slurm-wlm and munge, started by the test inside a network namespace of
/// their own (<see cref="SlurmCluster"/>), running srun and the sbatch script in docs/cluster.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SlurmLauncherTests(SlurmCluster slurm) : IClassFixture<SlurmCluster>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    private static readonly string QuickSort = Path.ChangeExtension(AppProcess.AppPath("QuickSort"), null); // the apphost

    [Fact]
    public void Srun_FourTasks_AreTheFourDronesOfOneRun_AndVerify()
    {
        var key = Path.Combine(slurm.Folder, "srun.key");
        var (exit, output) = slurm.Srun(
            Timeout, "-n", "4", "--label", QuickSort, "--launcher", "slurm", "--key-file", key, "--count", "300000", "--seed", "5", "--no-progress", "--quiet");

        Assert.True(exit == 0, $"srun -n 4 QuickSort --launcher slurm exited {exit}:\n{output}\nSlurm's logs:\n{slurm.Logs}");
        Assert.Contains("0: VERIFIED", output, StringComparison.Ordinal);
        Assert.Contains("0: RESULT drones=4 elements=300000 ", output, StringComparison.Ordinal);
        Assert.Contains(" verified=1 failed=0 ", output, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
    }

    [Fact]
    public void Srun_WithoutTheLauncherOption_EachTaskSaysToGiveIt_AndNoneRunsAlone()
    {
        var (exit, output) = slurm.Srun(Timeout, "-n", "2", "--label", QuickSort, "--count", "1000");

        Assert.True(exit != 0, $"srun -n 2 QuickSort without --launcher exited 0:\n{output}");
        Assert.Contains("0: quicksort: this process is one of several started by srun: give --launcher slurm", output, StringComparison.Ordinal);
        Assert.Contains("1: quicksort: this process is one of several started by srun: give --launcher slurm", output, StringComparison.Ordinal);
        Assert.DoesNotContain("RESULT", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Sbatch_TheDocumentedScript_RunsQuickSortOnFourTasks()
    {
        var script = Path.Combine(RepositoryRoot.Path, "docs", "cluster", "quicksort.sbatch");
        var log = Path.Combine(slurm.Folder, "batch.out");
        var (exit, output) = slurm.SbatchWait(
            Timeout, $"--output={log}", $"--export=ALL,APP={QuickSort},HIVEMIND_KEYS={slurm.Folder}/keys", script, "--count", "200000", "--no-progress", "--quiet");
        var batch = File.Exists(log) ? File.ReadAllText(log) : "(no output file)";

        Assert.True(exit == 0, $"sbatch --wait {script} exited {exit}:\n{output}\nits output:\n{batch}\nSlurm's logs:\n{slurm.Logs}");
        Assert.Contains("0: RESULT drones=4 elements=200000 ", batch, StringComparison.Ordinal);
        Assert.Contains(" verified=1 ", batch, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Path.Combine(slurm.Folder, "keys")));
    }
}
