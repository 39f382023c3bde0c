using System.Diagnostics;
using System.Globalization;

namespace HiveMind.EndToEnd.Tests;

/// <summary>Looks at the process table (/proc) to find a run's processes and to check none is left behind.</summary>
internal static class ProcessTable
{
    /// <summary>The direct children of <paramref name="parent"/>.</summary>
    public static List<int> ChildrenOf(int parent) => Matching(pid =>
    {
        // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[1], CultureInfo.InvariantCulture) == parent;
    });

    /// <summary>The processes whose working folder is <paramref name="folder"/>.</summary>
    public static List<int> RunningIn(string folder)
    {
        var full = Path.GetFullPath(folder).TrimEnd('/');
        return Matching(pid => new FileInfo($"/proc/{pid}/cwd").LinkTarget?.TrimEnd('/') == full);
    }

    /// <summary>The process, or null when it has ended.</summary>
    public static Process? TryGet(int pid)
    {
        try
        {
            return Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return null; // already gone
        }
    }

    private static List<int> Matching(Func<int, bool> predicate)
    {
        var result = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                if (predicate(pid))
                {
                    result.Add(pid);
                }
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked.
            }
        }

        return result;
    }
}
