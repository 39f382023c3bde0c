using System.Globalization;
using System.Text.RegularExpressions;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// The classic DSM programs under apps/, run as real processes on local drones: each checks its result against the same
/// computation done sequentially in private memory and says so in its RESULT line; here at 2 and 3 drones, with garbage
/// collection at every barrier, and with 16 KiB pages.
/// </summary>
public sealed partial class AppSuiteTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    public static TheoryData<string, string, string> Runs()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (app, size) in new[] { ("Sor", "--rows 258 --cols 130 --iterations 6"), ("Jacobi", "--rows 258 --cols 130 --iterations 6"), ("IntegerSort", "--keys 60000 --max-key 3000 --iterations 3"), ("Tsp", "--cities 10"), ("Water", "--molecules 200 --steps 2 --groups 8") })
        {
            foreach (var drones in new[] { "2", "3" })
            {
                foreach (var variant in new[] { "", "--gc-threshold 1", "--page-size 16384" })
                {
                    data.Add(app, drones, $"{size} {variant}".Trim());
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void App_OnLocalDrones_MatchesTheSequentialComputation(string app, string drones, string options)
    {
        var args = new[] { "--drones", drones, "--heap-size", "64MiB" }.Concat(options.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToArray();
        var (exit, output, error) = AppProcess.Run(app, Timeout, args);
        var command = $"{app} {string.Join(' ', args)}";
        Assert.True(exit == 0, $"{command} exited {exit}:\n{output}\n{error}");
        var result = ResultLine().Match(output);
        Assert.True(result.Success, $"{command} printed no RESULT line:\n{output}");
        Assert.True(
            result.Groups["drones"].Value == drones && result.Groups["verified"].Value == "1",
            $"{command}: {result.Value}");
        Assert.True(long.Parse(result.Groups["messages"].Value, CultureInfo.InvariantCulture) > 0, $"{command}: {drones} drones sent no protocol message in the timed part: {result.Value}");
    }

    [Theory]
    [InlineData("Sor", "--rows 2", "--rows and --cols: the grid needs at least 3 x 3 cells")]
    [InlineData("Sor", "--iterations -1", "--iterations and --warmup must not be negative")]
    [InlineData("Jacobi", "--cols 1", "--rows and --cols: the grid needs at least 3 x 3 cells")]
    [InlineData("Tsp", "--cities 30", "--cities: 4 to 24, not 30")]
    [InlineData("Tsp", "--split-depth 17", "--split-depth: 1 to 16 (fewer than --cities), not 17")]
    [InlineData("Tsp", "--split-depth 12", "--split-depth 12 with 17 cities: up to")]
    [InlineData("Water", "--groups 0", "--groups 0: 1 to the smaller of --locks (1024) and --molecules (4096)")]
    [InlineData("Water", "--molecules 1", "--molecules must be at least 2")]
    [InlineData("IntegerSort", "--max-key 0", "--keys and --max-key must be at least 1")]
    public void App_BadOptions_ExitTwoNamingTheOption(string app, string args, string expected)
    {
        var (exit, output, error) = AppProcess.Run(app, Timeout, args.Split(' '));
        Assert.True(exit == 2, $"{app} {args} exited {exit}, expected 2:\n{output}\n{error}");
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"RESULT drones=(?<drones>\d+) .* verified=(?<verified>\d) .* messages=(?<messages>\d+)")]
    private static partial Regex ResultLine();
}
