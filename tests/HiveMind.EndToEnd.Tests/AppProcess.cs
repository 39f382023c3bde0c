using System.Diagnostics;
using System.Text;

namespace HiveMind.EndToEnd.Tests;

/// <summary>Runs a built app of the repository as a real process and collects its output; always kills it.</summary>
internal static class AppProcess
{
#if RELEASE
    private const string Configuration = "Release";
#else
    private const string Configuration = "Debug";
#endif

    /// <summary>The built program: an app under apps/, an example under examples/, or a test program under tests/.</summary>
    internal static string AppPath(string app)
    {
        var folder = new[] { "apps", "examples" }.FirstOrDefault(f => Directory.Exists(Path.Combine(RepositoryRoot.Path, f, app))) ?? "tests";
        return Path.Combine(RepositoryRoot.Path, folder, app, "bin", Configuration, "net10.0", app + ".dll");
    }

    /// <summary>How to start a built app with its output redirected, inside network namespace <paramref name="netns"/> when given.</summary>
    public static ProcessStartInfo StartInfo(string? netns, string app, IEnumerable<string> args)
    {
        var path = AppPath(app);
        Assert.True(File.Exists(path), $"{app} is not built at {path}");
        var start = new ProcessStartInfo(netns is null ? "dotnet" : "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (netns is null ? [] : new[] { "netns", "exec", netns, "dotnet" }).Append(path).Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }

    public static (int ExitCode, string Output, string Error) Run(string app, TimeSpan timeout, params string[] args) =>
        RunIn(null, app, timeout, args);

    /// <summary>Runs the app with <paramref name="environment"/> added to its environment (and its drones', which inherit it).</summary>
    public static (int ExitCode, string Output, string Error) RunWith(IReadOnlyDictionary<string, string> environment, string app, TimeSpan timeout, params string[] args) =>
        Run(StartInfo(null, app, args), environment, app, timeout, args);

    /// <summary>Runs the app inside network namespace <paramref name="netns"/> (or here when null).</summary>
    public static (int ExitCode, string Output, string Error) RunIn(string? netns, string app, TimeSpan timeout, params string[] args) =>
        Run(StartInfo(netns, app, args), new Dictionary<string, string>(), app, timeout, args);

    private static (int ExitCode, string Output, string Error) Run(
        ProcessStartInfo start, IReadOnlyDictionary<string, string> environment, string app, TimeSpan timeout, string[] args) =>
        RunToEnd(start, environment, $"{app} {string.Join(' ', args)}", timeout, () => string.Empty);

    /// <summary>
    /// Runs <paramref name="start"/> with <paramref name="environment"/> added to its end; returns its exit code, output and
    /// error. One that outlives <paramref name="timeout"/> is killed, and the test fails naming <paramref name="command"/>
    /// with its output so far and <paramref name="context"/>'s text.
    /// </summary>
    internal static (int ExitCode, string Output, string Error) RunToEnd(
        ProcessStartInfo start, IReadOnlyDictionary<string, string> environment, string command, TimeSpan timeout, Func<string> context)
    {
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command}");
        var output = new StringBuilder();
        var error = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (error) { error.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"{command} did not exit within {timeout.TotalSeconds} s; output so far:\n{output}\n{error}\n{context()}");
        }

        process.WaitForExit(); // drains the asynchronous readers
        lock (output)
        {
            lock (error)
            {
                return (process.ExitCode, output.ToString(), error.ToString());
            }
        }
    }
}
