using System.Diagnostics;
using System.Runtime.InteropServices;

namespace HiveMind.Net.Tests.Transport;

/// <summary>A mesh node running as its own process (tests/HiveMind.Net.TestNode); always killed on dispose.</summary>
internal sealed partial class NodeProcess : IDisposable
{
#if RELEASE
    private const string Configuration = "Release";
#else
    private const string Configuration = "Debug";
#endif

    private readonly Process _process;
    private readonly List<string> _lines = [];

    /// <param name="id">The node's drone id.</param>
    /// <param name="drones">Drones of the run.</param>
    /// <param name="registry">Drone 0's address, for the others.</param>
    /// <param name="clusterKey">The key, base64.</param>
    /// <param name="fileLimit">A limit on the process's open files (ulimit -n), or null.</param>
    public NodeProcess(int id, int drones, string? registry, string clusterKey, int? fileLimit = null)
    {
        Id = id;
        var path = Path.Combine(RepositoryRoot.Path, "tests", "HiveMind.Net.TestNode", "bin", Configuration, "net10.0", "HiveMind.Net.TestNode.dll");
        Assert.True(File.Exists(path), $"the test node is not built at {path}");
        var start = new ProcessStartInfo(fileLimit is null ? "dotnet" : "bash")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (fileLimit is { } limit)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"ulimit -n {limit} && exec dotnet \"$@\"");
            start.ArgumentList.Add("bash");
        }

        start.ArgumentList.Add(path);
        start.ArgumentList.Add(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add(drones.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (registry is not null)
        {
            start.ArgumentList.Add(registry);
        }

        start.Environment["HIVEMIND_CLUSTER_KEY"] = clusterKey;
        _process = Process.Start(start) ?? throw new InvalidOperationException($"could not start node {id}");
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data is null ? null : "stderr: " + e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id { get; }

    /// <summary>Writes a command line to the node's standard input.</summary>
    public void Tell(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
    }

    public int Pid => _process.Id;

    /// <summary>Waits for a line that starts with <paramref name="prefix"/>; returns it, or fails naming what did not happen.</summary>
    public string WaitForLine(string prefix, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_lines)
        {
            while (true)
            {
                var line = _lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
                if (line is not null)
                {
                    return line;
                }

                var left = deadline - DateTime.UtcNow;
                Assert.True(left > TimeSpan.Zero,
                    $"node {Id} printed no line starting '{prefix}' within {timeout.TotalSeconds} s; it printed:\n{string.Join("\n", _lines)}");
                Monitor.Wait(_lines, left);
            }
        }
    }

    /// <summary>Every line the node printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_lines)
            {
                return string.Join("\n", _lines);
            }
        }
    }

    public bool Printed(string prefix)
    {
        lock (_lines)
        {
            return _lines.Any(l => l.StartsWith(prefix, StringComparison.Ordinal));
        }
    }

    public void KillHard() => _process.Kill();

    public void Signal(int signal) => Assert.True(Kill(_process.Id, signal) == 0, $"kill({_process.Id}, {signal}) failed");

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Kill(_process.Id, SigCont);
            _process.Kill(entireProcessTree: true);
        }

        _process.WaitForExit();
        _process.Dispose();
    }

    public const int SigStop = 19;
    public const int SigCont = 18;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Add(line);
            Monitor.PulseAll(_lines);
        }
    }
}
