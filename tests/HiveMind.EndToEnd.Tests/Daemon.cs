using System.Diagnostics;
using System.Text;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// A server a test starts for real (munged, slurmctld, slurmd), in the foreground and inside a network namespace when one
/// is given (entered with nsenter, which leaves the mounts alone: slurmd needs the machine's cgroup file systems, which
/// `ip netns exec` hides behind a fresh /sys), with what it prints kept for failure messages. Dispose kills it and whatever it started.
/// </summary>
internal sealed class Daemon : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    public Daemon(string? netns, string program, params string[] args)
    {
        Assert.True(File.Exists(program), $"{program} is missing: the test command (./test.sh) installs it from Debian's packages");
        var start = new ProcessStartInfo(netns is null ? program : "nsenter")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (netns is null ? [] : new[] { $"--net=/run/netns/{netns}", "--", program }).Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        Name = Path.GetFileName(program);
        _process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>What it printed so far.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }
    }
}
