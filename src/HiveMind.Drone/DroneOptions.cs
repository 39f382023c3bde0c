using System.Reflection;
using CommandLine;
using HiveMind.Config;
using HiveMind.Consistency;
using HiveMind.Launch;
using HiveMind.Memory;
using HiveMind.Net.Transport;

namespace HiveMind;

/// <summary>
/// The options every drone program accepts. Apps derive their own options class from this one, so that
/// one command line carries both (see apps/QuickSort). Defaults live here and nowhere else.
/// </summary>
public class DroneOptions
{
    /// <summary>Default number of locks (TreadMarks' MAX_LOCKS).</summary>
    public const int DefaultLocks = 1024;

    /// <summary>Default number of barriers.</summary>
    public const int DefaultBarriers = 64;

    /// <summary>Default number of condition variables (<see cref="Drone.LockCondWait"/>).</summary>
    public const int DefaultConditions = 64;

    /// <summary>Most condition variables a run may have.</summary>
    public const int MaxConditions = 4096;

    /// <summary>Largest run.</summary>
    public const int MaxDrones = 256;

    /// <summary>--drones: Number of drones in the run; drone 0 (this process) starts the others on this machine.</summary>
    [Option("drones", Default = 1, HelpText = "Number of drones in the run; drone 0 (this process) starts the others on this machine.")]
    public int Drones { get; set; } = 1;

    /// <summary>--page-size: Bytes per shared page: a power of two from 4096 to 16777216 (16MiB).</summary>
    [Option("page-size", Default = HeapOptions.DefaultPageSize, HelpText = "Bytes per shared page: a power of two from 4096 to 16777216 (16MiB).")]
    public int PageSize { get; set; } = HeapOptions.DefaultPageSize;

    /// <summary>--heap-size: Bytes of shared heap, a multiple of the page size; suffixes KiB, MiB, GiB. Untouched pages cost no memory.</summary>
    [Option("heap-size", Default = "1GiB", HelpText = "Bytes of shared heap, a multiple of the page size; suffixes KiB, MiB, GiB. Untouched pages cost no memory.")]
    public string HeapSize { get; set; } = "1GiB";

    /// <summary>--locks: Number of locks (ids 0 .. locks-1).</summary>
    [Option("locks", Default = DefaultLocks, HelpText = "Number of locks (ids 0 .. locks-1).")]
    public int Locks { get; set; } = DefaultLocks;

    /// <summary>--barriers: Number of barriers (ids 0 .. barriers-1).</summary>
    [Option("barriers", Default = DefaultBarriers, HelpText = "Number of barriers (ids 0 .. barriers-1).")]
    public int Barriers { get; set; } = DefaultBarriers;

    /// <summary>--conditions: Number of condition variables (ids 0 .. conditions-1), 0 to 4096; their waiter queues take the top of the shared heap (16 bytes per waiter, 4 waiters per drone slot and 16 at least per condition).</summary>
    [Option("conditions", Default = DefaultConditions, HelpText = "Number of condition variables (ids 0 .. conditions-1), 0 to 4096; their waiter queues take the top of the shared heap (16 bytes per waiter, 4 waiters per drone slot and 16 at least per condition).")]
    public int Conditions { get; set; } = DefaultConditions;

    /// <summary>--gc-threshold: Consistency data (interval records, write notices, diffs, twins) one drone may hold before the next barrier collects it; suffixes KiB, MiB, GiB.</summary>
    [Option("gc-threshold", Default = "64MiB", HelpText = "Consistency data (interval records, write notices, diffs, twins) one drone may hold before the next barrier collects it; suffixes KiB, MiB, GiB.")]
    public string GcThreshold { get; set; } = "64MiB";

    /// <summary>--log-level: The least severe of HiveMind's log messages written to standard error: trace, debug, information, warning (default), error, critical or none.</summary>
    [Option("log-level", Default = Microsoft.Extensions.Logging.LogLevel.Warning, HelpText = "The least severe of HiveMind's log messages written to standard error: trace, debug, information, warning (default), error, critical or none.")]
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; set; } = Microsoft.Extensions.Logging.LogLevel.Warning;

    /// <summary>
    /// Set in code (not on the command line) by a program that has its own logging: HiveMind logs through these loggers
    /// (categories HiveMind.Drone, HiveMind.Mesh, HiveMind.Wire) instead of writing to standard error, and
    /// <see cref="LogLevel"/> is the factory's to decide. The program owns the factory and disposes it.
    /// </summary>
    public Microsoft.Extensions.Logging.ILoggerFactory? Loggers { get; set; }

    /// <summary>--quiet: Print no statistics table at exit.</summary>
    [Option("quiet", Default = false, HelpText = "Print no statistics table at exit.")]
    public bool Quiet { get; set; }

    /// <summary>
    /// --check-spans: check every use of a span of shared memory against the synchronizations since it was made
    /// (<see cref="HeapOptions.CheckSpans"/>). On by default when the program is a Debug build
    /// (<see cref="HeapOptions.DefaultCheckSpans"/>); a program turns it off there by setting it false in code.
    /// </summary>
    [Option("check-spans", HelpText = "Check every use of a span of shared memory (SharedArray.AsSpan, AsReadOnlySpan, SharedHeap.ReadSpan, WriteSpan): a span used after this drone's next synchronization (a lock, a barrier, a Distribute) throws, naming its address and the synchronization. On by default when the program is a Debug build.")]
    public bool CheckSpans { get; set; } = HeapOptions.DefaultCheckSpans;

    /// <summary>--stats-json: File drone 0 writes the run's statistics to at exit, as JSON: each drone's counts (times in nanoseconds) and messages by kind, and the total.</summary>
    [Option("stats-json", HelpText = "File drone 0 writes the run's statistics to at exit, as JSON: each drone's counts (times in nanoseconds) and messages by kind, and the total.")]
    public string? StatsJson { get; set; }

    /// <summary>--trace: File drone 0 writes a ShiViz log of the run to at exit: every drone's lock, barrier and miss events with vector clocks of their happens-before order (https://bestchai.bitbucket.io/shiviz/). Tracing closes an interval at every synchronization; each drone keeps its first events up to a bound.</summary>
    [Option("trace", HelpText = "File drone 0 writes a ShiViz log of the run to at exit: every drone's lock, barrier and miss events with vector clocks of their happens-before order (https://bestchai.bitbucket.io/shiviz/). Tracing closes an interval at every synchronization; each drone keeps its first events up to a bound.")]
    public string? Trace { get; set; }

    /// <summary>--config: Cluster file (drones.config.json): drone k runs on its host k, started over ssh; the file's settings apply where the command line gives none.</summary>
    [Option("config", HelpText = "Cluster file (drones.config.json): drone k runs on its host k, started over ssh; the file's settings apply where the command line gives none.")]
    public string? Config { get; set; }

    /// <summary>--heartbeat-ms: Milliseconds between heartbeats on an idle link.</summary>
    [Option("heartbeat-ms", Default = 250, HelpText = "Milliseconds between heartbeats on an idle link.")]
    public int HeartbeatMs { get; set; } = 250;

    /// <summary>--failure-timeout-ms: Milliseconds of silence after which a drone is taken for failed.</summary>
    [Option("failure-timeout-ms", Default = 3000, HelpText = "Milliseconds of silence after which a drone is taken for failed.")]
    public int FailureTimeoutMs { get; set; } = 3000;

    /// <summary>--wait-limit: Longest wait for another drone (a lock grant, a barrier, a reply) before the drone gives up with an error: a duration such as 90s, 5m or 2h, or none. With none, a wait lasts as long as the drones it waits for are in the run (a failed drone leaves the view, which ends the wait).</summary>
    [Option("wait-limit", Default = "none", HelpText = "Longest wait for another drone (a lock grant, a barrier, a reply) before the drone gives up with an error: a duration such as 90s, 5m or 2h, or none. With none, a wait lasts as long as the drones it waits for are in the run (a failed drone leaves the view, which ends the wait).")]
    public string WaitLimit { get; set; } = "none";

    /// <summary>--frame-protection: sealed (default): every frame between drones encrypted and authenticated with per-link keys; clear: no protection at all (anyone on the path can read the heap and inject messages), only to measure what sealing costs on a network nobody else reaches.</summary>
    [Option("frame-protection", Default = FrameProtection.Sealed, HelpText = "sealed (default): every frame between drones encrypted and authenticated with per-link keys; clear: no protection at all (anyone on the path can read the heap and inject messages), only to measure what sealing costs on a network nobody else reaches.")]
    public FrameProtection FrameProtection { get; set; } = FrameProtection.Sealed;

    /// <summary>--listen-port: Port drone 0 listens on (0: any free port).</summary>
    [Option("listen-port", Default = 0, HelpText = "Port drone 0 listens on (0: any free port).")]
    public int ListenPort { get; set; }

    /// <summary>--launcher: What starts the drones: local (the default: drone 0 starts --drones - 1 more on this machine, or over ssh on the hosts of --config), slurm (every drone is a task of srun), mpi (every drone is a rank of mpirun or mpiexec), or env (something else starts every drone and sets HIVEMIND_DRONE_ID, HIVEMIND_DRONES and HIVEMIND_RENDEZVOUS). Under slurm, mpi and env the drones share the key through --key-file or HIVEMIND_CLUSTER_KEY.</summary>
    [Option("launcher", HelpText = "What starts the drones: local (the default: drone 0 starts --drones - 1 more on this machine, or over ssh on the hosts of --config), slurm (every drone is a task of srun), mpi (every drone is a rank of mpirun or mpiexec), or env (something else starts every drone and sets HIVEMIND_DRONE_ID, HIVEMIND_DRONES and HIVEMIND_RENDEZVOUS). Under slurm, mpi and env the drones share the key through --key-file or HIVEMIND_CLUSTER_KEY.")]
    public LauncherKind? Launcher { get; set; }

    /// <summary>What starts the drones: <see cref="Launcher"/>, or <see cref="LauncherKind.Local"/> when it is not given.</summary>
    public LauncherKind LaunchedBy => Launcher ?? LauncherKind.Local;

    /// <summary>--rendezvous: HOST:PORT where drone 0 listens and the other drones find it, under --launcher slurm, mpi or env. Default under slurm: the step's first node, at a port derived from the job and step ids; under mpi with every rank on one host: 127.0.0.1, at a port derived from the job id.</summary>
    [Option("rendezvous", HelpText = "HOST:PORT where drone 0 listens and the other drones find it, under --launcher slurm, mpi or env. Default under slurm: the step's first node, at a port derived from the job and step ids; under mpi with every rank on one host: 127.0.0.1, at a port derived from the job id.")]
    public string? Rendezvous { get; set; }

    /// <summary>--listen-address: Address this drone listens on (0.0.0.0 or :: for every interface). Default: loopback for drones on this machine; under a cluster launcher, the rendezvous address for drone 0 and, for the others, the address their traffic to drone 0 leaves from.</summary>
    [Option("listen-address", HelpText = "Address this drone listens on (0.0.0.0 or :: for every interface). Default: loopback for drones on this machine; under a cluster launcher, the rendezvous address for drone 0 and, for the others, the address their traffic to drone 0 leaves from.")]
    public string? ListenAddress { get; set; }

    /// <summary>--advertise-address: Address the other drones connect to this drone at, when it is not the listen address (behind NAT, say). A drone that listens on 0.0.0.0 advertises by default the address its traffic to drone 0 leaves from.</summary>
    [Option("advertise-address", HelpText = "Address the other drones connect to this drone at, when it is not the listen address (behind NAT, say). A drone that listens on 0.0.0.0 advertises by default the address its traffic to drone 0 leaves from.")]
    public string? AdvertiseAddress { get; set; }

    /// <summary>--max-drones: Most drones the run may ever hold, drones that join later included (ids are not reused, so each joiner takes one more). 0: --drones, and nobody joins.</summary>
    [Option("max-drones", Default = 0, HelpText = "Most drones the run may ever hold, drones that join later included (ids are not reused, so each joiner takes one more). 0: --drones, and nobody joins.")]
    public int MaxDronesInRun { get; set; }

    /// <summary>--join: Join a running run instead of starting one: HOST:PORT (name or address) of its drone 0 (drone 0 prints it). Needs --key-file. The drone is admitted at the run's next barrier.</summary>
    [Option("join", HelpText = "Join a running run instead of starting one: HOST:PORT (name or address) of its drone 0 (drone 0 prints it). Needs --key-file. The drone is admitted at the run's next barrier.")]
    public string? Join { get; set; }

    /// <summary>--key-file: File that holds the run's cluster key (base64, mode 600). Drone 0 creates it if it is missing; a drone started with --join reads it to prove it belongs to the run.</summary>
    [Option("key-file", HelpText = "File that holds the run's cluster key (base64, mode 600). Drone 0 creates it if it is missing; a drone started with --join reads it to prove it belongs to the run.")]
    public string? KeyFile { get; set; }

    /// <summary>
    /// Set in code (not on the command line) by a program that recovers from failed drones: it watches
    /// <see cref="Drone.View"/> or <see cref="Drone.ViewChanged"/> and redoes a failed drone's work. Without it (the
    /// default) the run stops on every drone as soon as one fails, and drone 0 reports which one and how it ended.
    /// </summary>
    public bool RecoversFromFailures { get; set; }

    /// <summary>
    /// Set in code (not on the command line) by a program that owns its process and wants it ended for it
    /// (passing the process's own exit, as QuickSort's Program.cs does): called with the exit code when drone 0 is gone (a drone it started
    /// leaves no orphan, even while still connecting), and when the run stopped and the program did not end by itself
    /// within a few seconds. Without it (the default) HiveMind never ends its host: waits throw
    /// <see cref="RunAbortedException"/>, <see cref="Drone.Failed"/> is raised, and the host decides.
    /// </summary>
    public Action<int>? EndProcess { get; set; }

    /// <summary>
    /// The Linux nice value of the mesh's threads (receive, send, heartbeat), below the program's so that serving other
    /// drones does not wait behind busy application threads (see <see cref="MeshOptions.NetworkThreadNice"/>); set in code,
    /// 0 to leave them as the process's.
    /// </summary>
    public int NetworkThreadNice { get; set; } = -10;

    /// <summary>The number of drone slots of the run: <see cref="MaxDronesInRun"/>, or <see cref="Drones"/> when that is 0.</summary>
    public int Slots => MaxDronesInRun == 0 ? Drones : MaxDronesInRun;

    /// <summary>The long names of the options the command line gave (null for options made in code), once <see cref="ApplyConfig"/> has run.</summary>
    public IReadOnlySet<string>? GivenNames { get; private set; }

    /// <summary>The <c>--listen-address</c>, resolved, or null when not given.</summary>
    public System.Net.IPAddress? ListenIp => ListenAddress is null ? null : AddressOf(ListenAddress, "--listen-address");

    /// <summary>The <c>--advertise-address</c>, resolved, or null when not given.</summary>
    public System.Net.IPAddress? AdvertiseIp => AdvertiseAddress is null ? null : AddressOf(AdvertiseAddress, "--advertise-address");

    /// <summary>The cluster file named by <see cref="Config"/>, once <see cref="ApplyConfig"/> has read it.</summary>
    public DronesConfig? ClusterConfig { get; private set; }

    /// <summary>
    /// Reads the cluster file named by <see cref="Config"/> (if any) and takes its settings for every option
    /// not in <paramref name="given"/> (the long names given on the command line, which win). The number of
    /// drones is the number of hosts. Throws <see cref="OptionsException"/> naming the field and the problem.
    /// </summary>
    public void ApplyConfig(IReadOnlyCollection<string> given)
    {
        ArgumentNullException.ThrowIfNull(given);
        GivenNames ??= given.Count == 0 ? null : given.ToHashSet(StringComparer.Ordinal);
        if (Config is null || ClusterConfig is not null)
        {
            return;
        }

        if (LaunchedBy != LauncherKind.Local)
        {
            throw new OptionsException($"--config: --launcher {ClusterLaunch.Name(LaunchedBy)} starts the drones itself; a cluster file is for drone 0 starting them over ssh (--launcher local).");
        }

        var config = DronesConfig.Load(Config);
        if (given.Contains("drones") && Drones != config.Hosts.Count)
        {
            throw new OptionsException($"--drones {Drones}: {config.Source} lists {config.Hosts.Count} host(s), one per drone.");
        }

        Drones = config.Hosts.Count;
        PageSize = given.Contains("page-size") ? PageSize : config.PageSize ?? PageSize;
        HeapSize = given.Contains("heap-size") ? HeapSize : config.HeapSize ?? HeapSize;
        GcThreshold = given.Contains("gc-threshold") ? GcThreshold : config.GcThreshold ?? GcThreshold;
        HeartbeatMs = given.Contains("heartbeat-ms") ? HeartbeatMs : config.HeartbeatIntervalMs ?? HeartbeatMs;
        FailureTimeoutMs = given.Contains("failure-timeout-ms") ? FailureTimeoutMs : config.FailureTimeoutMs ?? FailureTimeoutMs;
        ListenPort = given.Contains("listen-port") ? ListenPort : config.ListenPortOf(0);
        ClusterConfig = config;
    }

    /// <summary>The long names of the options <paramref name="args"/> gives (<c>--name value</c> or <c>--name=value</c>).</summary>
    public static HashSet<string> GivenOptions(Type optionsType, IEnumerable<string> args)
    {
        ArgumentNullException.ThrowIfNull(optionsType);
        ArgumentNullException.ThrowIfNull(args);
        var known = optionsType.GetProperties()
            .Select(p => p.GetCustomAttribute<OptionAttribute>()?.LongName)
            .OfType<string>()
            .ToHashSet(StringComparer.Ordinal);
        return args
            .Where(a => a.StartsWith("--", StringComparison.Ordinal))
            .Select(a => a[2..].Split('=', 2)[0])
            .Where(known.Contains)
            .ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The mesh settings these options describe; the frame limit follows from the page size and the GC threshold.</summary>
    internal MeshOptions ToMeshOptions(byte[] clusterKey) => new()
    {
        ClusterKey = clusterKey,
        MaxDrones = MaxDrones,
        HeartbeatInterval = TimeSpan.FromMilliseconds(HeartbeatMs),
        FailureTimeout = TimeSpan.FromMilliseconds(FailureTimeoutMs),
        ListenPort = ListenPort,
        MaxFrameBytes = FrameLimit(PageSize, ByteSize.Parse(GcThreshold, "--gc-threshold")),
        Protection = FrameProtection,
        NetworkThreadNice = NetworkThreadNice,
    };

    /// <summary>
    /// The largest frame of a run: room for the largest diff reply (its byte budget, or one diff of a page at its worst
    /// encoding, see <see cref="LrcEngine.MaxDiffReplyBytes"/>) and for messages that carry interval records, which the
    /// GC threshold bounds at barriers (twice it); 64 MiB at least. Every drone of a run derives the same limit from the
    /// same settings.
    /// </summary>
    public static int FrameLimit(int pageSize, long gcThreshold)
    {
        var replies = LrcEngine.MaxDiffReplyBytes(pageSize, LrcEngine.DefaultReplyBytes(pageSize)) + (1L << 20);
        var limit = Math.Max(64L << 20, Math.Max(replies, 2 * gcThreshold));
        return (int)Math.Min(limit, 1L << 30);
    }

    /// <summary>The <c>--wait-limit</c> as a span, or null for none.</summary>
    public TimeSpan? WaitLimitSpan => Duration.Parse(WaitLimit, "--wait-limit");

    /// <summary>The heap shape these options describe; throws <see cref="OptionsException"/> naming the bad option.</summary>
    public HeapOptions ToHeapOptions()
    {
        var heap = new HeapOptions { PageSize = PageSize, HeapSize = ByteSize.Parse(HeapSize, "--heap-size"), CheckSpans = CheckSpans };
        try
        {
            heap.Validate();
        }
        catch (ArgumentOutOfRangeException error)
        {
            var option = error.ParamName == nameof(HeapOptions.PageSize) ? "--page-size" : "--heap-size";
            throw new OptionsException($"{option}: {error.Message.Split(" (Parameter", 2)[0]}", error);
        }

        return heap;
    }

    /// <summary>Throws <see cref="OptionsException"/> naming the first option whose value is unusable.</summary>
    public virtual void Validate()
    {
        if (Drones < 1)
        {
            throw new OptionsException($"--drones: must be at least 1, not {Drones}.");
        }

        if (Drones > MaxDrones)
        {
            throw new OptionsException($"--drones: at most {MaxDrones}, not {Drones}.");
        }

        if (Locks < 1)
        {
            throw new OptionsException($"--locks: must be at least 1, not {Locks}.");
        }

        if (Barriers < 1)
        {
            throw new OptionsException($"--barriers: must be at least 1, not {Barriers}.");
        }

        if (Conditions is < 0 or > MaxConditions)
        {
            throw new OptionsException($"--conditions: must be 0 to {MaxConditions}, not {Conditions}.");
        }

        if (HeartbeatMs < 1)
        {
            throw new OptionsException($"--heartbeat-ms: must be at least 1, not {HeartbeatMs}.");
        }

        if (FailureTimeoutMs <= HeartbeatMs)
        {
            throw new OptionsException($"--failure-timeout-ms: must be longer than --heartbeat-ms ({HeartbeatMs}), not {FailureTimeoutMs}.");
        }

        if (ListenPort is < 0 or > 65535)
        {
            throw new OptionsException($"--listen-port: must be a port 0..65535, not {ListenPort}.");
        }

        if (MaxDronesInRun != 0 && (MaxDronesInRun < Drones || MaxDronesInRun > MaxDrones))
        {
            throw new OptionsException($"--max-drones: must be 0 or from --drones ({Drones}) to {MaxDrones}, not {MaxDronesInRun}.");
        }

        if (LaunchedBy != LauncherKind.Local)
        {
            var launcher = $"--launcher {ClusterLaunch.Name(LaunchedBy)}";
            if (AdvertiseAddress is not null)
            {
                throw new OptionsException($"--advertise-address: under {launcher} every drone gets the same command line, so all would advertise one address; leave it out (a drone that listens on 0.0.0.0 advertises the address its traffic to drone 0 leaves from).");
            }

            if (ListenIp is { } listen && !HostRoutes.IsUnspecified(listen))
            {
                throw new OptionsException($"--listen-address {ListenAddress}: under {launcher} every drone gets the same command line, so all would listen on one address; give 0.0.0.0 or ::, or leave it out (each then listens on the address its traffic to drone 0 leaves from).");
            }

            if (Join is not null)
            {
                throw new OptionsException($"--join: a drone that joins a running run is started by hand, not by {launcher}.");
            }

            if (ListenPort != 0)
            {
                throw new OptionsException($"--listen-port: under {launcher} drone 0 listens at the rendezvous; give --rendezvous HOST:PORT instead.");
            }

            if (MaxDronesInRun != 0)
            {
                throw new OptionsException($"--max-drones: drones that join are started by hand; a run started by {launcher} is as large as the launcher makes it.");
            }
        }
        else if (Rendezvous is not null)
        {
            throw new OptionsException("--rendezvous: only for drones a cluster launcher starts (--launcher slurm, mpi or env); drone 0 starts local drones itself.");
        }

        _ = ListenIp;
        if (AdvertiseIp is { } advertise && !HostRoutes.IsConnectable(advertise))
        {
            throw new OptionsException($"--advertise-address: {AdvertiseAddress} is not one host's address (every interface, a multicast group or broadcast), which nobody can connect to; give an address the other drones reach this one at.");
        }

        if (Join is not null)
        {
            if (KeyFile is null)
            {
                throw new OptionsException("--join: needs --key-file, the file with the run's cluster key (drone 0's --key-file).");
            }

            if (Config is not null)
            {
                throw new OptionsException("--join: a joining drone takes no --config; it runs where it is started.");
            }

            _ = JoinEndpoint;
        }
        else if (Slots > Drones && KeyFile is null)
        {
            throw new OptionsException($"--max-drones {Slots}: drones that join must prove the cluster key; give --key-file, where drone 0 keeps it for them.");
        }

        _ = ToHeapOptions();
        _ = ByteSize.Parse(GcThreshold, "--gc-threshold");
        _ = WaitLimitSpan;
    }

    private static System.Net.IPAddress AddressOf(string text, string option) =>
        System.Net.IPAddress.TryParse(text.Trim('[', ']'), out var address) ? address : HostAddress.ResolveFor(text, option);

    /// <summary>The address in <see cref="Join"/> (a host name is resolved); throws <see cref="OptionsException"/> when it is not HOST:PORT.</summary>
    public System.Net.IPEndPoint JoinEndpoint =>
        HostAddress.ParseEndpoint(Join ?? throw new OptionsException("--join: not given."), "--join", anyPort: false);
}
