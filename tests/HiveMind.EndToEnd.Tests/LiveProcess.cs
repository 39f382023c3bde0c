using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// A built app running as a real process whose output a test follows line by line, waiting for the lines that
/// mark the moments it acts at (kill a drone, take a link down). Dispose kills whatever is left of it.
/// </summary>
internal sealed class LiveProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<string> _lines = [];

    public LiveProcess(string app, string? netns, params string[] args)
        : this(app, netns, new Dictionary<string, string>(), args)
    {
    }

    /// <summary>Starts the app with <paramref name="environment"/> added to its environment (and its drones', which inherit it).</summary>
    public LiveProcess(string app, string? netns, IReadOnlyDictionary<string, string> environment, params string[] args)
        : this(WithEnvironment(AppProcess.StartInfo(netns, app, args), environment), $"{app} {string.Join(' ', args)}")
    {
    }

    /// <summary>Starts <paramref name="start"/> (a server a test runs, say), its output redirected and followed.</summary>
    public LiveProcess(ProcessStartInfo start, string command)
    {
        ArgumentNullException.ThrowIfNull(start);
        start.RedirectStandardOutput = start.RedirectStandardError = true;
        start.UseShellExecute = false;
        Command = command;
        _process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command}");
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Command { get; }

    public int Id => _process.Id;

    /// <summary>Whether the process has ended.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Everything the process (and the drones it started) printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_lines)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Waits for a line matching <paramref name="pattern"/>; fails naming what did not happen.</summary>
    public Match WaitForLine(string pattern, TimeSpan timeout, string what) =>
        TryWaitForLine(pattern, timeout)
        ?? throw new Xunit.Sdk.XunitException(
            $"{what}: no line matching /{pattern}/ within {timeout.TotalSeconds} s{(_process.HasExited ? $" (the process exited with {_process.ExitCode})" : string.Empty)}; output:\n{Output}");

    /// <summary>Waits for a line matching <paramref name="pattern"/>; null when <paramref name="timeout"/> passes, or the process exits (its last lines read), first.</summary>
    public Match? TryWaitForLine(string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        var deadline = DateTime.UtcNow + timeout;
        var seen = 0;
        var drained = false;
        while (true)
        {
            lock (_lines)
            {
                for (; seen < _lines.Count; seen++)
                {
                    if (regex.Match(_lines[seen]) is { Success: true } match)
                    {
                        return match;
                    }
                }

                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || drained)
                {
                    return null;
                }

                if (!_process.HasExited)
                {
                    Monitor.Wait(_lines, left > TimeSpan.FromMilliseconds(200) ? TimeSpan.FromMilliseconds(200) : left);
                    continue;
                }
            }

            // Exited: its last lines may still be on their way through the output readers; take them all first.
            _process.WaitForExit();
            drained = true;
        }
    }

    /// <summary>Sends <paramref name="signal"/> to process <paramref name="pid"/> (SIGSTOP 19, SIGCONT 18, SIGKILL 9); false when it is gone.</summary>
    public static bool Signal(int pid, int signal) => Kill(pid, signal) == 0;

#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code, which this test project does not allow
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054

    /// <summary>Waits for the process to exit; fails naming the command when it does not.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        Assert.True(_process.WaitForExit(timeout), $"{Command} did not exit within {timeout.TotalSeconds} s; output:\n{Output}");
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private static ProcessStartInfo WithEnvironment(ProcessStartInfo start, IReadOnlyDictionary<string, string> environment)
    {
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        return start;
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Add(line);
            _output.AppendLine(line);
            Monitor.PulseAll(_lines);
        }
    }
}
