using System.Globalization;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// HiveMind as a user gets it: `dotnet pack` makes the HiveMind package (with HiveMind.Core and HiveMind.Net) and the
/// template package; `dotnet new hivemind` outside the solution makes a program that builds against the packages alone
/// and runs on two drones.
/// </summary>
public sealed class PackageTemplateTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    // A version no earlier run used, so that NuGet's package cache never hands back another build's package.
    private readonly string _version = string.Create(CultureInfo.InvariantCulture, $"0.3.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}");
    private readonly string _folder = Directory.CreateTempSubdirectory("hivemind-package-").FullName;

    [Fact]
    public void Template_OutsideTheSolution_BuildsAgainstThePackageAndRunsOnTwoDrones()
    {
        var feed = Path.Combine(_folder, "feed");
        var hive = Path.Combine(_folder, "templates"); // dotnet new's own store for this test, not the user's
        var app = Path.Combine(_folder, "MyDsmApp");
        Dotnet(RepositoryRoot.Path, "pack", Path.Combine(RepositoryRoot.Path, "HiveMind.sln"), "-c", "Release", "--no-build", "-o", feed, $"-p:Version={_version}");
        foreach (var package in new[] { "HiveMind", "HiveMind.Core", "HiveMind.Net", "HiveMind.Templates" })
        {
            Assert.True(File.Exists(Path.Combine(feed, $"{package}.{_version}.nupkg")), $"dotnet pack made no {package} {_version} in {feed}: {string.Join(", ", Directory.GetFiles(feed).Select(Path.GetFileName))}");
        }

        Dotnet(_folder, "new", "install", Path.Combine(feed, $"HiveMind.Templates.{_version}.nupkg"), "--debug:custom-hive", hive);
        Dotnet(_folder, "new", "hivemind", "-o", app, "--hivemind-version", _version, "--debug:custom-hive", hive);
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="hivemind-test-feed" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        Dotnet(app, "build", "-c", "Release");

        var program = Path.Combine(app, "bin", "Release", "net10.0", "MyDsmApp.dll");
        var (exit, output) = ToolProcess.Run(null, "/usr/bin/env", new Dictionary<string, string>(), Timeout, () => string.Empty, "dotnet", program, "--drones", "2", "--count", "100000");
        Assert.True(exit == 0, $"the templated program on 2 drones exited {exit}:\n{output}");
        Assert.Contains("sum of 1..100000 on 2 drones: 5000050000 (right)", output, StringComparison.Ordinal);
        Assert.Matches(@"statistic\s+│\s+drone 0\s+│\s+drone 1\s+│\s+total", output);

        var (bad, said) = ToolProcess.Run(null, "/usr/bin/env", new Dictionary<string, string>(), Timeout, () => string.Empty, "dotnet", program, "--count", "0");
        Assert.True(bad == 2, $"the templated program with --count 0 exited {bad}, not 2:\n{said}");
        Assert.Contains("--count: must be 1 to 3000000000", said, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        Directory.Delete(_folder, recursive: true);

        // This run's packages in NuGet's cache are of no use to any other.
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var package in new[] { "hivemind", "hivemind.core", "hivemind.net" })
        {
            var folder = Path.Combine(cache, package, _version);
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static void Dotnet(string folder, params string[] args)
    {
        // env -C: dotnet runs in `folder` (where `dotnet build` finds the project and its nuget.config).
        var (exit, output) = ToolProcess.Run(
            null, "/usr/bin/env", new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" }, Timeout, () => string.Empty, ["-C", folder, "dotnet", .. args]);
        Assert.True(exit == 0, $"dotnet {string.Join(' ', args)} (in {folder}) exited {exit}:\n{output}");
    }
}
