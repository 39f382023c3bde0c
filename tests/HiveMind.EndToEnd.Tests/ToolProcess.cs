using System.Diagnostics;
using System.Text;

namespace HiveMind.EndToEnd.Tests;

/// <summary>Runs a system program (srun, sbatch, mpirun, sinfo) to its end, inside a network namespace when one is given.</summary>
internal static class ToolProcess
{
    /// <summary>
    /// Runs <paramref name="program"/> with <paramref name="environment"/> added; returns its exit code and its output
    /// (standard output and error together). A program that outlives <paramref name="timeout"/> is killed and the test
    /// fails with its output and <paramref name="context"/>'s text.
    /// </summary>
    public static (int ExitCode, string Output) Run(
        string? netns, string program, IReadOnlyDictionary<string, string> environment, TimeSpan timeout, Func<string> context, params string[] args)
    {
        Assert.True(File.Exists(program), $"{program} is missing: the test command (./test.sh) installs it from Debian's packages");
        var start = new ProcessStartInfo(netns is null ? program : "nsenter") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (netns is null ? [] : new[] { $"--net=/run/netns/{netns}", "--", program }).Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => Add(output, e.Data);
        process.ErrorDataReceived += (_, e) => Add(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"{Path.GetFileName(program)} {string.Join(' ', args)} did not end within {timeout.TotalSeconds} s; output so far:\n{output}\n{context()}");
        }

        process.WaitForExit(); // drains the asynchronous readers
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    private static void Add(StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }
}
