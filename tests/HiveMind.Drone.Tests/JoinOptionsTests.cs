using HiveMind.Launch;

namespace HiveMind.DroneTests;

/// <summary>The options and key file of joining: bad use gets an error that names the option and says why.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class JoinOptionsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("hivemind-join-").FullName;

    [Theory]
    [InlineData(new[] { "--join", "127.0.0.1:7400" }, "--join: needs --key-file")]
    [InlineData(new[] { "--join", "somewhere", "--key-file", "k" }, "--join: 'somewhere' is not a host and port")]
    [InlineData(new[] { "--join", "127.0.0.1:0", "--key-file", "k" }, "--join: '127.0.0.1:0' is not a host and port")]
    [InlineData(new[] { "--drones", "3", "--max-drones", "2" }, "--max-drones: must be 0 or from --drones (3) to 256, not 2")]
    [InlineData(new[] { "--drones", "2", "--max-drones", "300" }, "--max-drones: must be 0 or from --drones (2) to 256, not 300")]
    [InlineData(new[] { "--drones", "2", "--max-drones", "4" }, "--max-drones 4: drones that join must prove the cluster key; give --key-file")]
    public void BadJoinOptions_AreRefusedNamingTheOption(string[] args, string expected)
    {
        var error = Assert.Throws<OptionsException>(() => Tmk.ParseOptions<DroneOptions>(args));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GoodJoinOptions_Parse()
    {
        var joiner = Tmk.ParseOptions<DroneOptions>(["--join", "127.0.0.1:7400", "--key-file", "k"]);
        Assert.Equal(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 7400), joiner.JoinEndpoint);
        var named = Tmk.ParseOptions<DroneOptions>(["--join", "localhost:7400", "--key-file", "k"]);
        Assert.True(System.Net.IPAddress.IsLoopback(named.JoinEndpoint.Address), $"--join localhost:7400 resolved to {named.JoinEndpoint}");
        var first = Tmk.ParseOptions<DroneOptions>(["--drones", "2", "--max-drones", "4", "--key-file", "k"]);
        Assert.Equal(4, first.Slots);
        Assert.Equal(2, Tmk.ParseOptions<DroneOptions>(["--drones", "2"]).Slots);
    }

    [Fact]
    public void KeyFile_CreatedByDroneZero_IsTheOwnersAlone_AndReadsBackTheSameKey()
    {
        var path = Path.Combine(_folder, "cluster.key");
        var key = ClusterKeyFile.LoadOrCreate(path);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(key, ClusterKeyFile.Load(path));
        Assert.Equal(key, ClusterKeyFile.LoadOrCreate(path));
    }

    [Fact]
    public void KeyFile_ThatOthersMayRead_IsRefused()
    {
        var path = Path.Combine(_folder, "open.key");
        File.WriteAllText(path, Convert.ToBase64String(new byte[32]));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var error = Assert.Throws<OptionsException>(() => ClusterKeyFile.Load(path));
        Assert.Contains("others may read it (mode 644)", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not base64 at all!", "does not hold a base64 key")]
    [InlineData("AAAA", "the key has 3 bytes; at least 16 are needed")]
    public void KeyFile_WithoutAKey_IsRefused(string text, string expected)
    {
        var path = Path.Combine(_folder, "bad.key");
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var error = Assert.Throws<OptionsException>(() => ClusterKeyFile.Load(path));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyFile_Missing_IsRefusedNamingIt()
    {
        var path = Path.Combine(_folder, "missing.key");
        var error = Assert.Throws<OptionsException>(() => ClusterKeyFile.Load(path));
        Assert.Contains($"--key-file {path}: cannot read it", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
