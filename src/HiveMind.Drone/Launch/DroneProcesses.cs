using System.Diagnostics;

namespace HiveMind.Launch;

/// <summary>
/// The processes drone 0 started for the other drones (the drones themselves, or the ssh clients that run
/// them): their output reaches this console prefixed with the drone id, and <see cref="WaitOrKill"/> makes
/// sure none outlives the run.
/// </summary>
internal sealed class DroneProcesses : IDisposable
{
    // Lines of a drone's error output kept for the report when it fails.
    private const int KeptLines = 12;

    private readonly List<(int Drone, Process Process)> _children = [];
    private readonly Dictionary<int, string> _hosts = [];
    private readonly Dictionary<int, Queue<string>> _errors = [];

    /// <summary>Process ids of the processes started.</summary>
    public IReadOnlyList<int> ProcessIds => _children.Select(c => c.Process.Id).ToList();

    /// <summary>
    /// Starts <paramref name="start"/> for drone <paramref name="drone"/>; when <paramref name="input"/> is not
    /// null it is written to the process's standard input, which then stays open for the run.
    /// </summary>
    public void Start(int drone, ProcessStartInfo start, string? input = null, string host = "this machine")
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = input is not null;
        start.UseShellExecute = false;
        var child = Process.Start(start) ?? throw new LaunchException($"drone {drone}: could not start {start.FileName}.");
        var prefix = $"[drone {drone}] ";
        var errors = new Queue<string>();
        lock (_errors)
        {
            _errors[drone] = errors;
            _hosts[drone] = host;
        }

        child.OutputDataReceived += (_, e) => Forward(Console.Out, prefix, e.Data);
        child.ErrorDataReceived += (_, e) =>
        {
            Forward(Console.Error, prefix, e.Data);
            if (e.Data is not null)
            {
                lock (errors)
                {
                    errors.Enqueue(e.Data);
                    if (errors.Count > KeptLines)
                    {
                        errors.Dequeue();
                    }
                }
            }
        };
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        if (input is not null)
        {
            child.StandardInput.WriteLine(input);
            child.StandardInput.Flush();
        }

        _children.Add((drone, child));
    }

    /// <summary>The first drone whose process has exited, with how it ended; null while all run.</summary>
    public DroneExit? FirstExited()
    {
        foreach (var (drone, child) in _children)
        {
            if (child.HasExited)
            {
                return ExitOf(drone, TimeSpan.Zero);
            }
        }

        return null;
    }

    /// <summary>
    /// How drone <paramref name="drone"/>'s process ended, waiting up to <paramref name="wait"/> for it to end; null if
    /// this launcher did not start it. A process still running then is reported as such (it was silent, not gone).
    /// </summary>
    public DroneExit? ExitOf(int drone, TimeSpan wait)
    {
        var found = _children.FirstOrDefault(c => c.Drone == drone);
        if (found.Process is not { } child)
        {
            return null;
        }

        int? code = null;
        if (child.WaitForExit(wait))
        {
            child.WaitForExit(); // drains the output readers, so that the last lines are all in
            code = child.ExitCode;
        }

        string[] lines;
        string host;
        lock (_errors)
        {
            host = _hosts.GetValueOrDefault(drone, "?");
            var errors = _errors.GetValueOrDefault(drone);
            lock (errors ?? new Queue<string>())
            {
                lines = errors?.ToArray() ?? [];
            }
        }

        return new DroneExit(drone, host, child.Id, code, lines);
    }

    /// <summary>Waits up to <paramref name="timeout"/> for every process to exit, then kills the rest.</summary>
    public void WaitOrKill(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        foreach (var (_, child) in _children)
        {
            var left = deadline - DateTime.UtcNow;
            if (!child.WaitForExit(left > TimeSpan.Zero ? left : TimeSpan.Zero))
            {
                try
                {
                    child.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // It exited in between.
                }

                child.WaitForExit();
            }
            else
            {
                child.WaitForExit(); // drains the output readers
            }
        }
    }

    /// <summary>Kills the processes started for <paramref name="drone"/>, if they still run.</summary>
    public void Kill(int drone)
    {
        foreach (var (_, child) in _children.Where(c => c.Drone == drone))
        {
            try
            {
                child.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited already.
            }
        }
    }

    public void Dispose()
    {
        WaitOrKill(TimeSpan.FromSeconds(10));
        foreach (var (_, child) in _children)
        {
            child.Dispose();
        }
    }

    private static void Forward(TextWriter output, string prefix, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.WriteLine(prefix + line);
            }
        }
    }
}

/// <summary>How a drone's process (or the ssh client that ran it) ended, for the reports of a failed start or run.</summary>
/// <param name="Drone">The drone.</param>
/// <param name="Host">Where it ran.</param>
/// <param name="ProcessId">The local process drone 0 started for it.</param>
/// <param name="ExitCode">Its exit code, or null while it still runs.</param>
/// <param name="LastErrorLines">The last lines it wrote to its error output.</param>
internal sealed record DroneExit(int Drone, string Host, int ProcessId, int? ExitCode, IReadOnlyList<string> LastErrorLines)
{
    /// <summary>"exited with code 1", "was killed by signal 9 (SIGKILL)" or "is still running".</summary>
    public string Ending => ExitCode switch
    {
        null => "is still running",
        > 128 and < 160 => $"was killed by signal {ExitCode - 128}{SignalName(ExitCode.Value - 128)} (exit code {ExitCode})",
        _ => $"exited with code {ExitCode}",
    };

    /// <summary>One paragraph: the drone, its host and process, how it ended, and its last error lines.</summary>
    public string Describe() =>
        $"drone {Drone} on {Host} (process {ProcessId}) {Ending}"
        + (LastErrorLines.Count == 0 ? "; it wrote nothing to its error output." : $"; its last error lines:{Environment.NewLine}" + string.Join(Environment.NewLine, LastErrorLines.Select(l => "    " + l)));

    private static string SignalName(int signal) => signal switch
    {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => string.Empty,
    };
}
