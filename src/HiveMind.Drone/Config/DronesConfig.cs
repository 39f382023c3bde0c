using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HiveMind.Config;

/// <summary>
/// A cluster file (drones.config.json): drone k runs on <see cref="Hosts"/>[k], drone 0 on this machine and the
/// others started over ssh; plus settings every drone shares. Values given on the command line win over the
/// file's. <see cref="Load"/> validates and names the field and the problem of anything unusable.
/// </summary>
public sealed class DronesConfig
{
    /// <summary>Default ssh port.</summary>
    public const int DefaultSshPort = 22;

    /// <summary>Default folder on the hosts that the program is copied to.</summary>
    public const string DefaultWorkFolder = "/tmp/hivemind";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
    };

    /// <summary>The file this config was read from (for messages).</summary>
    [JsonIgnore]
    public string Source { get; private set; } = "config";

    /// <summary>One entry per drone: drone 0 is this machine, the others are started there over ssh.</summary>
    public List<ConfigHost> Hosts { get; set; } = [];

    /// <summary>User to log in as on every host (default: ssh's own choice, the local user).</summary>
    public string? SshUser { get; set; }

    /// <summary>Private key for ssh (key-based login only; ssh runs in BatchMode, never prompts).</summary>
    public string? IdentityFile { get; set; }

    /// <summary>known_hosts file to check host keys against (default: ssh's own).</summary>
    public string? KnownHostsFile { get; set; }

    /// <summary>ssh port of every host.</summary>
    public int SshPort { get; set; } = DefaultSshPort;

    /// <summary>Folder on each host that the program's publish folder is copied into.</summary>
    public string WorkFolder { get; set; } = DefaultWorkFolder;

    /// <summary>The dotnet host on the remote machines (a name on their PATH or an absolute path).</summary>
    public string Dotnet { get; set; } = "dotnet";

    /// <summary>
    /// Whether drone 0 copies the program's folder to each host's work folder (the default). False for a file system
    /// every host shares: each drone runs the program from drone 0's own folder, at the same path, and nothing is copied.
    /// </summary>
    public bool CopyProgram { get; set; } = true;

    /// <summary>Port every drone listens on (0: any free port).</summary>
    public int ListenPort { get; set; }

    /// <summary>Bytes per shared page (as --page-size).</summary>
    public int? PageSize { get; set; }

    /// <summary>Bytes of shared heap (as --heap-size, suffixes allowed).</summary>
    public string? HeapSize { get; set; }

    /// <summary>Heartbeat interval in milliseconds (as --heartbeat-ms).</summary>
    public int? HeartbeatIntervalMs { get; set; }

    /// <summary>Failure timeout in milliseconds (as --failure-timeout-ms).</summary>
    public int? FailureTimeoutMs { get; set; }

    /// <summary>Garbage-collection threshold (as --gc-threshold, suffixes allowed).</summary>
    public string? GcThreshold { get; set; }

    /// <summary>Reads and validates a cluster file; throws <see cref="OptionsException"/> naming the file, the field and the problem.</summary>
    public static DronesConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new OptionsException($"--config: cannot read '{path}': {error.Message}", error);
        }

        return Parse(text, path);
    }

    /// <summary>Parses and validates the text of a cluster file; <paramref name="source"/> names it in messages.</summary>
    public static DronesConfig Parse(string text, string source)
    {
        DronesConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<DronesConfig>(text, Json);
        }
        catch (JsonException error)
        {
            var where = string.IsNullOrEmpty(error.Path) || error.Path == "$" ? string.Empty : $"{error.Path.TrimStart('$', '.')}: ";
            var line = error.LineNumber is { } l ? $" (line {l + 1})" : string.Empty;
            throw new OptionsException($"{source}: {where}{Describe(error)}{line}", error);
        }

        if (config is null)
        {
            throw new OptionsException($"{source}: the file holds null, not a config object.");
        }

        config.Source = source;
        config.Validate();
        return config;
    }

    /// <summary>Throws <see cref="OptionsException"/> naming the first field whose value is unusable.</summary>
    public void Validate()
    {
        if (Hosts is null || Hosts.Count == 0)
        {
            Fail("hosts", "must list at least one host (drone 0 runs on the first).");
        }

        if (Hosts.Count > DroneOptions.MaxDrones)
        {
            Fail("hosts", $"at most {DroneOptions.MaxDrones} hosts, not {Hosts.Count}.");
        }

        CheckPort("sshPort", SshPort, allowZero: false);
        CheckPort("listenPort", ListenPort, allowZero: true);
        CheckText("sshUser", SshUser);
        CheckText("identityFile", IdentityFile);
        CheckText("knownHostsFile", KnownHostsFile);
        CheckText("workFolder", WorkFolder);
        CheckText("dotnet", Dotnet);
        if (string.IsNullOrWhiteSpace(WorkFolder))
        {
            Fail("workFolder", "must name a folder.");
        }

        if (string.IsNullOrWhiteSpace(Dotnet))
        {
            Fail("dotnet", "must name the dotnet host on the remote machines.");
        }

        if (PageSize is { } pageSize)
        {
            Check("pageSize", () => new DroneOptions { PageSize = pageSize }.ToHeapOptions().PageSize);
        }

        if (HeapSize is not null)
        {
            Check("heapSize", () => ByteSize.Parse(HeapSize, "heapSize"));
        }

        if (GcThreshold is not null)
        {
            Check("gcThreshold", () => ByteSize.Parse(GcThreshold, "gcThreshold"));
        }

        if (HeartbeatIntervalMs is < 1)
        {
            Fail("heartbeatIntervalMs", $"must be at least 1, not {HeartbeatIntervalMs}.");
        }

        if (FailureTimeoutMs is < 1)
        {
            Fail("failureTimeoutMs", $"must be at least 1, not {FailureTimeoutMs}.");
        }

        if (HeartbeatIntervalMs is { } beat && FailureTimeoutMs is { } timeout && timeout <= beat)
        {
            Fail("failureTimeoutMs", $"must be longer than heartbeatIntervalMs ({beat}), not {timeout}.");
        }

        var listeners = new Dictionary<(string, int), int>();
        for (var k = 0; k < Hosts.Count; k++)
        {
            var host = Hosts[k] ?? Fail<ConfigHost>($"hosts[{k}]", "is null, not a host object.");
            var field = $"hosts[{k}]";
            if (string.IsNullOrWhiteSpace(host.Host))
            {
                Fail($"{field}.host", "must name a host (a name or an address).");
            }

            if (host.Host.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or ';' or '`' or '$' or '\\') || host.Host.StartsWith('-'))
            {
                Fail($"{field}.host", $"'{host.Host}' is not a host name or address.");
            }

            if (host.SshPort is { } port)
            {
                CheckPort($"{field}.sshPort", port, allowZero: false);
            }

            if (host.ListenPort is { } listen)
            {
                CheckPort($"{field}.listenPort", listen, allowZero: true);
            }

            CheckText($"{field}.sshUser", host.SshUser);
            CheckText($"{field}.workFolder", host.WorkFolder);
            var listenPort = ListenPortOf(k);
            if (listenPort != 0 && !listeners.TryAdd((host.Host, listenPort), k))
            {
                Fail($"{field}.listenPort", $"drones {listeners[(host.Host, listenPort)]} and {k} would both listen on {host.Host}:{listenPort}.");
            }
        }
    }

    /// <summary>The port drone <paramref name="drone"/> listens on (0: any).</summary>
    public int ListenPortOf(int drone) => Hosts[drone].ListenPort ?? ListenPort;

    /// <summary>The ssh port of drone <paramref name="drone"/>'s host.</summary>
    public int SshPortOf(int drone) => Hosts[drone].SshPort ?? SshPort;

    /// <summary>The ssh user of drone <paramref name="drone"/>'s host, or null for ssh's default.</summary>
    public string? SshUserOf(int drone) => Hosts[drone].SshUser ?? SshUser;

    /// <summary>The work folder on drone <paramref name="drone"/>'s host.</summary>
    public string WorkFolderOf(int drone) => Hosts[drone].WorkFolder ?? WorkFolder;

    private void CheckPort(string field, int port, bool allowZero)
    {
        if (port < (allowZero ? 0 : 1) || port > 65535)
        {
            Fail(field, $"must be a port {(allowZero ? 0 : 1)}..65535, not {port}.");
        }
    }

    private void CheckText(string field, string? value)
    {
        // These values end up in ssh command lines and remote shell words: refuse what a shell would read.
        if (value is not null && value.Any(c => char.IsControl(c) || c is '\'' or '`' or '$' or '"' or '\\'))
        {
            Fail(field, $"'{value}' holds a character that is not allowed (quotes, backslash, $, ` or control characters).");
        }
    }

    private void Check(string field, Func<object> parse)
    {
        try
        {
            parse();
        }
        catch (OptionsException error)
        {
            var message = error.Message;
            var colon = message.IndexOf(": ", StringComparison.Ordinal);
            Fail(field, colon >= 0 ? message[(colon + 2)..] : message);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(string field, string problem) => throw new OptionsException($"{Source}: {field}: {problem}");

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private T Fail<T>(string field, string problem) => throw new OptionsException($"{Source}: {field}: {problem}");

    private static string Describe(JsonException error)
    {
        // System.Text.Json's messages name .NET types; say what the file should hold instead.
        var message = error.Message;
        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            var start = message.IndexOf('\'', StringComparison.Ordinal);
            var end = start >= 0 ? message.IndexOf('\'', start + 1) : -1;
            var name = start >= 0 && end > start ? message[(start + 1)..end] : "?";
            return $"unknown field '{name}' (known: hosts, sshUser, identityFile, knownHostsFile, sshPort, workFolder, dotnet, listenPort, pageSize, heapSize, heartbeatIntervalMs, failureTimeoutMs, gcThreshold; in a host: host, sshUser, sshPort, workFolder, listenPort).";
        }

        if (message.Contains("could not be converted to", StringComparison.Ordinal))
        {
            var type = message.Contains("System.Int32", StringComparison.Ordinal) ? "a whole number"
                : message.Contains("System.String", StringComparison.Ordinal) ? "a string"
                : message.Contains("List", StringComparison.Ordinal) ? "an array"
                : "a value of another kind";
            return $"must be {type}.";
        }

        return string.Create(CultureInfo.InvariantCulture, $"not valid JSON: {message.Split(" Path:", 2)[0]}");
    }
}

/// <summary>One host of a cluster file: where one drone runs, with per-host overrides of the shared ssh settings.</summary>
public sealed class ConfigHost
{
    /// <summary>Host name or address; the other drones reach this drone there.</summary>
    public string Host { get; set; } = string.Empty;

    /// <summary>Login on this host, when not the file's <c>sshUser</c>.</summary>
    public string? SshUser { get; set; }

    /// <summary>ssh port of this host, when not the file's <c>sshPort</c>.</summary>
    public int? SshPort { get; set; }

    /// <summary>Where the program is copied on this host, when not the file's <c>workFolder</c>.</summary>
    public string? WorkFolder { get; set; }

    /// <summary>Port this drone listens on, when not the file's <c>listenPort</c>.</summary>
    public int? ListenPort { get; set; }
}
