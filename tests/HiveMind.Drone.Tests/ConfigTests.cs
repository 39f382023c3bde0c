using HiveMind.Config;
using HiveMind.Launch;

namespace HiveMind.DroneTests;

public sealed class ConfigTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("hivemind-config-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void SampleConfig_AtRepositoryRoot_IsValid()
    {
        var path = Path.Combine(RepositoryRoot.Path, "drones.config.json");
        var config = DronesConfig.Load(path);
        Assert.Equal(4, config.Hosts.Count);
        Assert.All(Enumerable.Range(0, 4), k => Assert.Equal(7400 + k, config.ListenPortOf(k)));
        Assert.Equal(DronesConfig.DefaultSshPort, config.SshPortOf(3));
    }

    [Fact]
    public void ParseOptions_ConfigFile_GivesSettingsTheCommandLineDoesNot()
    {
        var path = Write("""
            { "hosts": [ { "host": "10.0.0.1" }, { "host": "10.0.0.2", "sshPort": 2222, "sshUser": "bee" } ],
              "sshUser": "drone", "pageSize": 8192, "heapSize": "256MiB", "gcThreshold": "8MiB",
              "heartbeatIntervalMs": 100, "failureTimeoutMs": 900, "listenPort": 7500 }
            """);

        var options = Tmk.ParseOptions<DroneOptions>(["--config", path, "--heap-size", "32MiB", "--failure-timeout-ms=1500"]);

        Assert.Equal(2, options.Drones); // one drone per host
        Assert.Equal(8192, options.PageSize); // from the file
        Assert.Equal("8MiB", options.GcThreshold);
        Assert.Equal(100, options.HeartbeatMs);
        Assert.Equal(7500, options.ListenPort);
        Assert.Equal("32MiB", options.HeapSize); // the command line wins, in both spellings
        Assert.Equal(1500, options.FailureTimeoutMs);
        var config = options.ClusterConfig!;
        Assert.Equal(2222, config.SshPortOf(1));
        Assert.Equal(22, config.SshPortOf(0));
        Assert.Equal("bee", config.SshUserOf(1));
        Assert.Equal("drone", config.SshUserOf(0));
        var mesh = options.ToMeshOptions(new byte[32]);
        Assert.Equal(TimeSpan.FromMilliseconds(100), mesh.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), mesh.FailureTimeout);
    }

    /// <summary>A library never ends its host: asking for help is an exception carrying the text, which Tmk.Run prints (exit 0).</summary>
    [Fact]
    public void ParseOptions_Help_ThrowsTheTextInsteadOfEndingTheProcess()
    {
        var help = Assert.Throws<HelpRequestedException>(() => Tmk.ParseOptions<DroneOptions>(["--help"]));
        Assert.Contains("--heap-size", help.HelpText, StringComparison.Ordinal);
        Assert.Contains("--failure-timeout-ms", help.HelpText, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseOptions_DronesDisagreeingWithHosts_ThrowsNamingBoth()
    {
        var path = Write("""{ "hosts": [ { "host": "a" }, { "host": "b" } ] }""");
        var error = Assert.Throws<OptionsException>(() => Tmk.ParseOptions<DroneOptions>(["--config", path, "--drones", "3"]));
        Assert.Contains("--drones 3", error.Message, StringComparison.Ordinal);
        Assert.Contains("lists 2 host(s)", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, Tmk.ParseOptions<DroneOptions>(["--config", path, "--drones", "2"]).Drones);
    }

    [Theory]
    [InlineData("""{ "hosts": [] }""", "hosts: must list at least one host")]
    [InlineData("""{ }""", "hosts: must list at least one host")]
    [InlineData("""{ "hosts": [ { "host": "" } ] }""", "hosts[0].host: must name a host")]
    [InlineData("""{ "hosts": [ { "host": "a b" } ] }""", "hosts[0].host: 'a b' is not a host name or address")]
    [InlineData("""{ "hosts": [ { "host": "-oProxyCommand=x" } ] }""", "hosts[0].host: '-oProxyCommand=x' is not a host name")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "sshPort": 0 }""", "sshPort: must be a port 1..65535, not 0")]
    [InlineData("""{ "hosts": [ { "host": "a" }, { "host": "b", "sshPort": 65536 } ] }""", "hosts[1].sshPort: must be a port 1..65535, not 65536")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "listenPort": -1 }""", "listenPort: must be a port 0..65535, not -1")]
    [InlineData("""{ "hosts": [ { "host": "a", "listenPort": 7000 }, { "host": "a", "listenPort": 7000 } ] }""", "hosts[1].listenPort: drones 0 and 1 would both listen on a:7000")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "pageSize": 3000 }""", "pageSize: PageSize must be a power of two")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "pageSize": "big" }""", "pageSize: must be a whole number")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "heapSize": "lots" }""", "heapSize: 'lots' is not a positive byte count")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "gcThreshold": "0" }""", "gcThreshold: '0' is not a positive byte count")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "heartbeatIntervalMs": 0 }""", "heartbeatIntervalMs: must be at least 1, not 0")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "heartbeatIntervalMs": 500, "failureTimeoutMs": 400 }""", "failureTimeoutMs: must be longer than heartbeatIntervalMs (500), not 400")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "workFolder": "/tmp/it's" }""", "workFolder: '/tmp/it's' holds a character that is not allowed")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "sshUser": "$(reboot)" }""", "sshUser: '$(reboot)' holds a character that is not allowed")]
    [InlineData("""{ "hosts": [ { "host": "a", "colour": "red" } ] }""", "hosts[0].colour: unknown field 'colour'")]
    [InlineData("""{ "hosts": [ { "host": "a" } ], "sshport": "22" }""", "sshport: must be a whole number")]
    [InlineData("""{ "hosts": { "host": "a" } }""", "hosts: must be an array")]
    [InlineData("""{ "hosts": [ { "host": "a" } ] """, "not valid JSON")]
    [InlineData("""null""", "holds null")]
    public void Parse_BadConfig_ThrowsNamingFileFieldAndProblem(string json, string expected)
    {
        var error = Assert.Throws<OptionsException>(() => DronesConfig.Parse(json, "cluster.json"));
        Assert.StartsWith("cluster.json: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFile_ThrowsNamingIt()
    {
        var path = Path.Combine(_folder, "absent.json");
        var error = Assert.Throws<OptionsException>(() => DronesConfig.Load(path));
        Assert.Contains($"--config: cannot read '{path}'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--drones", "0")]
    [InlineData("--heartbeat-ms", "0")]
    [InlineData("--failure-timeout-ms", "100")]
    [InlineData("--listen-port", "70000")]
    public void ParseOptions_BadNewOption_ThrowsNamingIt(string option, string value)
    {
        var error = Assert.Throws<OptionsException>(() => Tmk.ParseOptions<DroneOptions>([option, value]));
        Assert.Contains(option + ":", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RemoteArguments_ReplaceLauncherOptions_WithDroneZerosSettings()
    {
        var path = Write("""{ "hosts": [ { "host": "a" }, { "host": "b" } ], "pageSize": 8192, "heapSize": "64MiB" }""");
        string[] args = ["--config", path, "--count", "5", "--heap-size=128MiB", "--drones", "2", "--quiet", "--page-size", "16384"];
        var options = Tmk.ParseOptions<DroneOptions>(["--config", path, "--heap-size=128MiB", "--drones", "2", "--quiet", "--page-size", "16384"]);

        var remote = SshLauncher.RemoteArguments(args, options);

        Assert.Equal(
            ["--count", "5", "--quiet", "--page-size", "16384", "--heap-size", "128MiB", "--gc-threshold", "64MiB", "--heartbeat-ms", "250", "--failure-timeout-ms", "3000"],
            remote);
    }

    [Theory]
    [InlineData("plain", "'plain'")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("$(x) `y`", "'$(x) `y`'")]
    public void Quote_ForPosixShell(string text, string expected) => Assert.Equal(expected, SshLauncher.Quote(text));

    private string Write(string json)
    {
        var path = Path.Combine(_folder, $"{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }
}
