using System.Diagnostics;
using System.Globalization;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// Separate hosts for a test: one network namespace per host, each with one veth link into a bridge that
/// lives in a switch namespace of its own, so the hosts reach each other (10.231.0.1, .2, ...) and nothing
/// else, and the machine's own network is left alone. Dispose removes the namespaces and what runs in them.
/// </summary>
internal sealed class NetworkNamespaces : IDisposable
{
    private readonly string _prefix = string.Create(CultureInfo.InvariantCulture, $"hm{Environment.ProcessId % 100000}x{Interlocked.Increment(ref _instances)}");
    private static int _instances;

    public NetworkNamespaces(int hosts)
    {
        Hosts = hosts;
        try
        {
            Ip("netns", "add", Switch);
            Ip("-n", Switch, "link", "add", "br0", "type", "bridge");
            Ip("-n", Switch, "link", "set", "br0", "up");
            for (var k = 0; k < hosts; k++)
            {
                Ip("netns", "add", Name(k));
                Ip("-n", Name(k), "link", "set", "lo", "up");
                Ip("-n", Switch, "link", "add", $"port{k}", "type", "veth", "peer", "name", "eth0", "netns", Name(k));
                Ip("-n", Switch, "link", "set", $"port{k}", "master", "br0");
                Ip("-n", Switch, "link", "set", $"port{k}", "up");
                Ip("-n", Name(k), "addr", "add", $"{Address(k)}/24", "dev", "eth0");
                Ip("-n", Name(k), "link", "set", "eth0", "up");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Hosts { get; }

    private string Switch => _prefix + "s";

    /// <summary>The namespace of host <paramref name="k"/>.</summary>
    public string Name(int k) => string.Create(CultureInfo.InvariantCulture, $"{_prefix}h{k}");

    /// <summary>Host <paramref name="k"/>'s address.</summary>
    public static string Address(int k) => string.Create(CultureInfo.InvariantCulture, $"10.231.0.{k + 1}");

    /// <summary>Takes host <paramref name="k"/>'s link down or up (its cable pulled or plugged back).</summary>
    public void SetLink(int k, bool up) => Ip("-n", Switch, "link", "set", $"port{k}", up ? "up" : "down");

    public void Dispose()
    {
        foreach (var name in Enumerable.Range(0, Hosts).Select(Name).Append(Switch))
        {
            // Whatever still runs in a namespace would keep it (and its addresses) alive.
            foreach (var pid in Pids(name))
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(TimeSpan.FromSeconds(10));
                }
                catch (ArgumentException)
                {
                    // Gone already.
                }
            }

            Run("ip", ["netns", "del", name], check: false);
        }
    }

    private static int[] Pids(string name)
    {
        var (_, output) = Run("ip", ["netns", "pids", name], check: false);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
    }

    private static void Ip(params string[] args) => Run("ip", args, check: true);

    private static (int ExitCode, string Output) Run(string program, string[] args, bool check)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(!check || process.ExitCode == 0, $"{program} {string.Join(' ', args)} exited {process.ExitCode}: {error}");
        return (process.ExitCode, output.Result);
    }
}
