using System.Diagnostics;

namespace HiveMind.EndToEnd.Tests;

/// <summary>Runs a system program (srun, sbatch, mpirun, sinfo) to its end, inside a network namespace when one is given.</summary>
internal static class ToolProcess
{
    /// <summary>
    /// How to start <paramref name="program"/> inside network namespace <paramref name="netns"/> (or here when null). The
    /// namespace is entered with nsenter, which leaves the mounts alone: slurmd needs the machine's cgroup file systems,
    /// which `ip netns exec` hides behind a fresh /sys.
    /// </summary>
    public static ProcessStartInfo StartInfo(string? netns, string program, IEnumerable<string> args)
    {
        Assert.True(File.Exists(program), $"{program} is missing: the test command (./test.sh) installs it from Debian's packages");
        var start = new ProcessStartInfo(netns is null ? program : "nsenter") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (netns is null ? [] : new[] { $"--net=/run/netns/{netns}", "--", program }).Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }

    /// <summary>
    /// Runs <paramref name="program"/> with <paramref name="environment"/> added; returns its exit code and its output
    /// (standard output, then standard error). A program that outlives <paramref name="timeout"/> is killed and the test
    /// fails with its output and <paramref name="context"/>'s text.
    /// </summary>
    public static (int ExitCode, string Output) Run(
        string? netns, string program, IReadOnlyDictionary<string, string> environment, TimeSpan timeout, Func<string> context, params string[] args)
    {
        var (exit, output, error) = AppProcess.RunToEnd(StartInfo(netns, program, args), environment, $"{Path.GetFileName(program)} {string.Join(' ', args)}", timeout, context);
        return (exit, output + error);
    }
}
