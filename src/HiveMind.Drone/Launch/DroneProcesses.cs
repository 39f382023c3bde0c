using System.Diagnostics;

namespace HiveMind.Launch;

/// <summary>
/// The processes drone 0 started for the other drones (the drones themselves, or the ssh clients that run
/// them): their output reaches this console prefixed with the drone id, and <see cref="WaitOrKill"/> makes
/// sure none outlives the run.
/// </summary>
internal sealed class DroneProcesses : IDisposable
{
    private readonly List<(int Drone, Process Process)> _children = [];

    /// <summary>Process ids of the processes started.</summary>
    public IReadOnlyList<int> ProcessIds => _children.Select(c => c.Process.Id).ToList();

    /// <summary>
    /// Starts <paramref name="start"/> for drone <paramref name="drone"/>; when <paramref name="input"/> is not
    /// null it is written to the process's standard input, which then stays open for the run.
    /// </summary>
    public void Start(int drone, ProcessStartInfo start, string? input = null)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = input is not null;
        start.UseShellExecute = false;
        var child = Process.Start(start) ?? throw new LaunchException($"drone {drone}: could not start {start.FileName}.");
        var prefix = $"[drone {drone}] ";
        child.OutputDataReceived += (_, e) => Forward(Console.Out, prefix, e.Data);
        child.ErrorDataReceived += (_, e) => Forward(Console.Error, prefix, e.Data);
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        if (input is not null)
        {
            child.StandardInput.WriteLine(input);
            child.StandardInput.Flush();
        }

        _children.Add((drone, child));
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
