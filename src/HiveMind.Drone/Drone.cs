using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Unicode;
using HiveMind.Allocation;
using HiveMind.Consistency;
using HiveMind.Launch;
using HiveMind.Memory;
using HiveMind.Net.Transport;
using HiveMind.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HiveMind;

/// <summary>
/// One drone: its copy of the shared heap, the protocol engine that keeps it consistent, and (in a run of
/// several) its mesh node. Drone 0 starts the other drones on this machine, hands out the peer table and is
/// the barrier manager; every drone meets the others at a start barrier before the program goes on.
/// </summary>
/// <remarks>Instance-based so that tests can hold several; the static <see cref="Tmk"/> façade holds one per process.</remarks>
public sealed partial class Drone : IDisposable
{
    // Barrier ids the runtime uses itself; programs use 0 .. --barriers - 1.
    private const int StartBarrier = -1;
    private const int ExitBarrier = -2;
    private const int DistributeBarrier = -3;
    private const int LeaveBarrier = -4;
    private const int CollectiveBarrier = -5;

    // Tmk.Distribute passes drone 0's value through two words of the first granule (which the allocator never
    // hands out), used in turn: a slot is written again only after a barrier that every reader of its previous
    // value has passed, so drone 0's write never races with a read of the value before.
    private const long DistributeSlots = 0;

    private readonly LrcEngine _engine;
    private readonly MeshNetwork? _network;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, RunReport> _reports = new();
    private int _distributions;

    // MallocCollective's two ballots (used in turn, as the Distribute slots are), which drone 0 allocates at the first
    // collective allocation (0 until then), and the collective allocations made so far.
    private long _ballots;
    private int _collectives;
    private readonly MeshNode? _node;
    private readonly IDroneLauncher? _launcher;
    private readonly int _locks;
    private readonly int _barriers;
    private readonly ILogger _logger;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly bool _exitOnPeerFailure;
    private readonly Action<int>? _endProcess;
    private readonly bool _joining;
    private volatile bool _exiting;
    private volatile string? _failure;
    private int _failureCode;
    private int[]? _failedDrones;
    private readonly HashSet<int> _removedSeen = [];
    private Timer? _backstop;
    private bool _disposed;

    // How long a drone waits for the others to form the run's mesh (and, under a cluster launcher, for drone 0 to come up).
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    // How long drone 0 lets a drone it removed end by itself (it learns of its removal when it runs again) before ending it.
    private static readonly TimeSpan AbandonAfter = TimeSpan.FromSeconds(10);

    // Failure timeouts of silence from drone 0 before a drone gives the run up (a link that closes ends it at once).
    private const int DroneZeroSilenceTimeouts = 4;

    // How long drone 0's failure report waits in all for the processes it names to end.
    private static readonly TimeSpan ReportTime = TimeSpan.FromSeconds(2);

    // How long a program's drone whose run has stopped may take to end by itself before it is ended.
    private static readonly TimeSpan FailureGrace = TimeSpan.FromSeconds(3);
    private bool _exited;

    private Drone(DroneOptions options, DronePlacement placement, ILoggerFactory loggers)
    {
        var (id, drones) = (placement.Id, placement.Drones);
        var joining = placement.Registry is not null && id == MeshNode.Newcomer;
        if (!joining && (drones < 1 || (uint)id >= (uint)drones))
        {
            throw new OptionsException($"drone {id} cannot be part of a run of {drones} drone(s).");
        }

        Options = options;
        Id = id;
        Count = drones;
        MaxDrones = joining ? 0 : Math.Max(options.Slots, drones);
        _joining = joining;
        _exitOnPeerFailure = placement.ExitOnPeerFailure;
        _endProcess = options.EndProcess;
        _locks = options.Locks;
        _barriers = options.Barriers;
        _logger = loggers.CreateLogger("HiveMind.Drone");
        try
        {
            Heap = new SharedHeap(options.ToHeapOptions());
        }
        catch (InsufficientMemoryException error)
        {
            throw new OptionsException($"--heap-size {options.HeapSize}: {error.Message}", error);
        }

        // The condition queues take the top of the heap, below its end, on every drone alike; the program's blocks are
        // allocated below them. A drone that joins learns the run's slots (and takes drone 0's --conditions) as it is admitted.
        _conditions = options.Conditions;
        var queues = joining ? 0 : ConditionQueueBytes(_conditions, MaxDrones, Heap.PageSize);
        if (queues > Heap.Size / 2)
        {
            Heap.Dispose();
            throw new OptionsException(
                $"--conditions {_conditions}: the condition queues take {queues} bytes of shared heap ({ConditionWaitersFor(MaxDrones)} waiters each for {MaxDrones} drone slot(s)), more than half of --heap-size {options.HeapSize}; give a larger --heap-size or a smaller --conditions.");
        }

        if (!joining)
        {
            PlaceConditionQueues(_conditions, MaxDrones);
        }

        Allocator = new SharedAllocator(0, Heap.Size - queues);
        var threshold = ByteSize.Parse(options.GcThreshold, "--gc-threshold");
        if (MaxDrones == 1)
        {
            var loopback = new LoopbackNetwork();
            _engine = new LrcEngine(0, 1, Heap, loopback, collectionThreshold: threshold) { Trace = NewTrace(options, 1) };
            loopback.Attach(_engine);
            return;
        }

        var key = placement.ClusterKey ?? throw new OptionsException("a run of several drones needs a cluster key");
        if (id != 0 && placement.Registry is null)
        {
            throw new OptionsException($"drone {id} needs the address of drone 0 to join the run.");
        }

        var waitLimit = options.WaitLimitSpan;
        var network = new MeshNetwork(MaxDrones, waitLimit, loggers.CreateLogger("HiveMind.Wire")) { Allocator = Allocator };
        var mesh = options.ToMeshOptions(key);
        if (!joining)
        {
            mesh = mesh with { MaxDrones = MaxDrones }; // the slots of this run: no id above them is taken
        }

        if (placement.Listen is { } listen)
        {
            mesh = mesh with { ListenAddress = listen.Address, ListenPort = listen.Port };
        }
        else if (id != 0)
        {
            mesh = mesh with { ListenPort = 0 }; // --listen-port is drone 0's; the drones it starts take any free port
        }

        mesh = mesh with
        {
            AdvertiseAddress = placement.Advertise,
            RegistryRefusedFor = placement.RegistryFromLauncher ? StartTimeout : mesh.RegistryRefusedFor,
        };

        try
        {
            _node = new MeshNode(id, mesh, network, loggers.CreateLogger("HiveMind.Mesh"));
        }
        catch (System.Net.Sockets.SocketException error)
        {
            Heap.Dispose();
            var where = new IPEndPoint(mesh.ListenAddress, mesh.ListenPort);
            throw new OptionsException(
                placement.RegistryFromLauncher && id == 0
                    ? $"drone 0 cannot listen at the rendezvous {where} ({error.SocketErrorCode}: {error.Message}): another run may hold the port, or the address is not this host's; give --rendezvous HOST:PORT with this host and a free port."
                    : $"drone {id} cannot listen on {where} ({error.SocketErrorCode}: {error.Message}); check --listen-address and --listen-port.",
                error);
        }

        try
        {
            if (joining)
            {
                // A newcomer: drone 0 gives it an id and the run's size; the engine comes once they are known.
                try
                {
                    MaxDrones = _node.JoinMesh(IPEndPoint.Parse(placement.Registry!), TimeSpan.FromSeconds(60));
                }
                catch (MeshException error)
                {
                    throw new LaunchException($"cannot join the run at {placement.Registry}: {error.Message}", error);
                }

                Id = _node.Id;
                _engine = new LrcEngine(Id, MaxDrones, Heap, network, waitLimit, threshold, started: 0);
            }
            else
            {
                _engine = new LrcEngine(id, MaxDrones, Heap, network, waitLimit, threshold, started: drones);
            }
        }
        catch
        {
            _node.Dispose();
            Heap.Dispose();
            throw;
        }

        network.Attach(_node, _engine);
        _network = network;
        network.Conditions = _conditions;
        network.ReportArrived += (peer, report) => _reports[peer] = report;
        network.ConditionWakeArrived += OnConditionWake;
        _engine.Fault = FaultInjection.StallFor(Id);
        _engine.Trace = NewTrace(options, MaxDrones);
        _engine.StopsOnRemoval = !options.RecoversFromFailures;

        // Every diff reply must fit the frame limit the peers enforce: a reply holds its budget or one diff, whichever is more.
        var overhead = LrcEngine.MaxDiffReplyBytes(Heap.PageSize, 1) - HiveMind.Diffs.PageDiff.MaxEncodedLength(Heap.PageSize);
        _engine.MaxReplyBytes = Math.Max(1, Math.Min(LrcEngine.DefaultReplyBytes(Heap.PageSize), mesh.MaxFrameBytes - overhead));
        _node.PeerFailed += OnPeerFailed;
        _node.PeerSilent += OnPeerSilent;
        _engine.ViewChanged += OnViewChanged;
        _engine.NewcomerState = () => [_distributions, ForNewcomers, _ballots, _collectives, _conditions];
        placement.Listening?.Invoke(_node.ListenEndpoint);
        if (joining)
        {
            return; // admitted in Join, at the run's next barrier
        }

        try
        {
            if (id == 0 && placement.LaunchOthers)
            {
                // Where the drones it starts reach drone 0: on this machine, where it listens (loopback for every interface); over
                // ssh, the first host's address it listens on.
                var listening = _node.ListenEndpoint;
                var registry = new IPEndPoint(HostRoutes.IsUnspecified(listening.Address) ? IPAddress.Loopback : listening.Address, listening.Port).ToString();
                _launcher = options.ClusterConfig is null
                    ? new LocalLauncher(drones, registry, key)
                    : new SshLauncher(options, registry, key);
            }

            // A drone that exits (or cannot start) while the run forms stops the start at once, with how it ended.
            var launcher = _launcher;
            _node.FormMesh(
                drones,
                placement.Registry is null ? null : IPEndPoint.Parse(placement.Registry),
                StartTimeout,
                launcher is null ? null : () => launcher.FirstExited()?.Describe());
        }
        catch (Exception error)
        {
            _node.Leave(); // the drones stopped below are not news
            _launcher?.WaitOrKill(TimeSpan.Zero);
            _launcher?.Dispose();
            _node.Dispose();
            Heap.Dispose();
            if (error is MeshException)
            {
                throw new LaunchException(error.Message, error);
            }

            throw;
        }
    }

    /// <summary>This drone's id (Tmk_proc_id): 0 .. <see cref="Count"/> - 1 for the drones the run started with, higher for drones that joined.</summary>
    public int Id { get; private set; }

    /// <summary>Number of drones the run started with (Tmk_nprocs).</summary>
    public int Count { get; private set; }

    /// <summary>Drone slots of the run: ids are below this (--max-drones); drones that join take the slots above <see cref="Count"/>.</summary>
    public int MaxDrones { get; private set; }

    /// <summary>The application barrier at which this drone joined the running run, or null for a drone it started with.</summary>
    public int? JoinedAt { get; private set; }

    /// <summary>
    /// On drone 0: a value handed to every drone admitted from now on (the address of the program's shared state,
    /// say); set it before the barrier that admits them. On a drone that joined: the value it was admitted with.
    /// </summary>
    public long ForNewcomers { get; set; }

    /// <summary>The options the drone runs with.</summary>
    public DroneOptions Options { get; }

    /// <summary>This drone's copy of the shared heap.</summary>
    public SharedHeap Heap { get; }

    /// <summary>Bytes of a page of the shared heap (<c>--page-size</c>): the unit of coherence, so data written by different drones at once is best kept on different pages.</summary>
    public int PageSize => Heap.PageSize;

    /// <summary>Pages of the shared heap (its size over the page size).</summary>
    public int PageCount => Heap.PageCount;

    /// <summary>
    /// On drone 0, the allocator of the run's shared heap, which serves every drone's <see cref="Malloc"/> and
    /// <see cref="Free"/>; on another drone, one of the same range that allocates nothing (its bookkeeping is drone 0's).
    /// </summary>
    public SharedAllocator Allocator { get; private set; }

    /// <summary>What this drone did so far.</summary>
    public DroneStatistics Statistics { get; } = new();

    /// <summary>The membership view this drone acts on: the live drones and those removed as failed.</summary>
    public MembershipView View => _engine.View;

    /// <summary>The number of <see cref="View"/>: 0 until a drone fails, one more at each change. Cheap to poll.</summary>
    public int ViewNumber => _engine.ViewNumber;

    /// <summary>How many drones have been removed from the run as failed so far (joins leave it alone). Cheap to poll.</summary>
    public int FailedCount => _engine.RemovedCount;

    /// <summary>
    /// Raised when this drone installs a new membership view that drone 0 decided (a drone failed, or drones joined). It
    /// runs on the thread that installs the view: a network thread as a rule; on drone 0, which hands each view it decides
    /// to itself in place, the thread that decided it, which is its application thread when its own barrier arrival
    /// completes the round that admits newcomers; on a newcomer, the thread that joins, for the view that admits it
    /// (inside <see cref="Join"/>, before it returns the drone, so no handler sees that one). A handler should note the
    /// change and act on it from the application thread (under a lock, say).
    /// </summary>
    public event Action<MembershipView>? ViewChanged;

    /// <summary>
    /// Raised once (on a network thread) when the run stops for this drone: drone 0 failed, this drone was removed, or
    /// a drone failed in a run whose program does not recover (<see cref="DroneOptions.RecoversFromFailures"/>). The
    /// argument says why; every operation and wait of the drone then throws a <see cref="RunAbortedException"/>.
    /// </summary>
    public event Action<string>? Failed;

    /// <summary>Why the run stopped for this drone (see <see cref="Failed"/>), or null while it goes on.</summary>
    public string? FailureReason => _failure;

    /// <summary>The exit code that says why the run stopped (<see cref="DroneExitCodes"/>), or 0 while it goes on.</summary>
    public int FailureExitCode => Volatile.Read(ref _failureCode);

    /// <summary>Wall time since the drone started.</summary>
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_started);

    /// <summary>
    /// Starts this process's drone. Started by a user, it is drone 0 and launches the other
    /// <see cref="DroneOptions.Drones"/> - 1 on this machine; started by drone 0, it reads its place in the
    /// run from its environment. Returns when every drone has met at the start barrier.
    /// </summary>
    public static Drone Start(DroneOptions options, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var id = Environment.GetEnvironmentVariable(LocalLauncher.IdVariable);
        DronePlacement placement;
        if (options.LaunchedBy != LauncherKind.Local)
        {
            // Started, with every other drone, by srun, mpirun or another engine: the place comes from the environment.
            placement = ClusterLaunch.Place(options, Environment.GetEnvironmentVariable, StartTimeout);
        }
        else if (id is null && options.Join is not null)
        {
            // Started by a user to join a running run: drone 0 gives the id once the key is proven.
            placement = new DronePlacement(MeshNode.Newcomer, 0)
            {
                Registry = options.JoinEndpoint.ToString(),
                ClusterKey = ClusterKeyFile.Load(options.KeyFile!),
                Listen = options.ListenIp is { } address ? new IPEndPoint(address, 0) : null,
                Advertise = options.AdvertiseIp,
            };
        }
        else if (id is null)
        {
            if (options.Launcher is null && ClusterLaunch.StartedBy(Environment.GetEnvironmentVariable) is { } by)
            {
                // One of several tasks of srun or ranks of mpirun, each about to start a run of its own: surely not what was meant.
                var name = ClusterLaunch.Name(by);
                throw new OptionsException(
                    $"this process is one of several started by {(by == LauncherKind.Slurm ? "srun" : "mpirun")}: give --launcher {name} to make them the drones of one run (or --launcher local for a run of its own in each).");
            }

            // Started by a user: this is drone 0. A cluster file (not yet read when the options were built in
            // code) names the hosts, and drone 0 listens on the first, where the others can reach it.
            options.ApplyConfig([]);
            placement = new DronePlacement(0, options.Drones)
            {
                ClusterKey = options.KeyFile is { } keyFile && options.Slots > 1 ? ClusterKeyFile.LoadOrCreate(keyFile)
                    : options.Slots > 1 ? RandomNumberGenerator.GetBytes(32) : null,
                LaunchOthers = true,
                Listen = options.ClusterConfig is { } config ? new IPEndPoint(HostAddress.Resolve(config.Hosts[0].Host), options.ListenPort)
                    : options.ListenIp is { } address ? new IPEndPoint(address, options.ListenPort) : null,
                Advertise = options.ClusterConfig is null ? options.AdvertiseIp : null,
            };
        }
        else
        {
            var droneId = ParseVariable(LocalLauncher.IdVariable, id);
            var registry = FaultInjection.AtStart(droneId, Environment.GetEnvironmentVariable(LocalLauncher.RegistryVariable) ?? throw new OptionsException($"{LocalLauncher.RegistryVariable} is not set"));
            var onInput = Environment.GetEnvironmentVariable(SshLauncher.KeyOnInputVariable) == "1";
            var listen = Environment.GetEnvironmentVariable(SshLauncher.ListenVariable);

            // A drone started over ssh listens where the cluster file says; one started on this machine as drone 0 does
            // (--listen-address, which it inherits), on any free port, and advertises what its traffic to drone 0 leaves from
            // (drone 0's --advertise-address is drone 0's).
            placement = new DronePlacement(droneId, ParseVariable(LocalLauncher.DronesVariable, Environment.GetEnvironmentVariable(LocalLauncher.DronesVariable)))
            {
                Registry = registry,
                ClusterKey = onInput
                    ? SshLauncher.ReadKeyAndWatchInput(droneId, options.EndProcess)
                    : Convert.FromBase64String(Environment.GetEnvironmentVariable(LocalLauncher.KeyVariable) ?? throw new OptionsException($"{LocalLauncher.KeyVariable} is not set")),
                Listen = listen is not null ? HostAddress.ParseEndpoint(listen, SshLauncher.ListenVariable, anyPort: true)
                    : options.ListenIp is { } address ? new IPEndPoint(address, 0) : null,
            };
            LocalLauncher.WatchParent(droneId, options.EndProcess);
        }

        return Join(options, placement with { ExitOnPeerFailure = true }, loggers);
    }

    /// <summary>
    /// Starts a drone at an explicit place in a run, for hosts that start drones themselves (several in one
    /// process, say): returns when every drone has met at the start barrier, so the drones of a run must be
    /// joined concurrently.
    /// </summary>
    public static Drone Join(DroneOptions options, DronePlacement placement, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(placement);
        options.Validate();
        var drone = new Drone(options, placement, loggers ?? NullLoggerFactory.Instance);
        if (drone._joining)
        {
            drone.Admit();
        }
        else
        {
            try
            {
                FaultInjection.BeforeStartBarrier(drone.Id);
                drone._engine.Barrier(StartBarrier);
            }
            catch (InjectedExitException)
            {
                drone.Dispose(); // as a process that exits here would leave
                throw;
            }
            catch (RunAbortedException error)
            {
                // A drone failed (or drone 0 went) between the mesh forming and the start barrier: the run did not start.
                drone.AwaitFailure(error);
                var report = drone.FailureReport() ?? drone._engine.AbortReason ?? "the run stopped";
                drone.Dispose();
                throw new LaunchException($"drone {drone.Id}: the run stopped before it started: {report}");
            }
        }

        LogStarted(drone._logger, drone.Id, drone.Count, drone.Heap.Size, drone.Heap.PageSize);
        DroneTelemetry.Add(drone);
        if (drone.Id == 0 && drone.MaxDrones > drone.Count && drone._node is not null)
        {
            Console.Error.WriteLine(
                $"drone 0: up to {drone.MaxDrones - drone.Count} more drone(s) may join: --join {drone._node.ListenEndpoint} --key-file {options.KeyFile}");
        }

        return drone;
    }

    /// <summary>
    /// On drone 0: waits until <paramref name="count"/> drones have asked to join since the run started (admitted
    /// already, or to be admitted at the next barrier), or <paramref name="timeout"/> passes; returns whether they have.
    /// </summary>
    public bool WaitForJoiners(int count, TimeSpan timeout)
    {
        CheckRunning();
        if (Id != 0)
        {
            throw new InvalidOperationException($"Drone {Id}: drones ask drone 0 to join; only drone 0 can wait for them.");
        }

        return _engine.WaitForNewcomers(count, timeout);
    }

    /// <summary>Drones that asked to join and wait for the next barrier (on drone 0).</summary>
    public int PendingJoiners => _engine.PendingNewcomers;

    /// <summary>A newcomer's admission: waits for drone 0's welcome at the run's next barrier and takes its place.</summary>
    private void Admit()
    {
        try
        {
            var asked = Stopwatch.GetTimestamp();
            var welcome = _engine.JoinRun();
            Count = welcome.Started;
            JoinedAt = welcome.Barrier;
            if (welcome.Extra.Length != 5 || welcome.Extra[4] is < 0 or > DroneOptions.MaxConditions)
            {
                throw new InvalidOperationException($"Drone {Id}: drone 0's welcome carries runtime values [{string.Join(", ", welcome.Extra)}], not the 5 of this version: is it another HiveMind version?");
            }

            _distributions = (int)welcome.Extra[0];
            ForNewcomers = welcome.Extra[1];
            (_ballots, _collectives) = (welcome.Extra[2], (int)welcome.Extra[3]);

            // The run's conditions are drone 0's: their queues lie where drone 0 reserved them.
            _conditions = (int)welcome.Extra[4];
            PlaceConditionQueues(_conditions, MaxDrones);
            _network!.Conditions = _conditions;

            // The allocator's range is drone 0's, which ends below those queues: what this drone checks before it asks
            // drone 0, and what bounds drone 0's replies.
            Allocator = new SharedAllocator(0, Heap.Size - ConditionQueueBytes(_conditions, MaxDrones, Heap.PageSize));
            _network.Allocator = Allocator;
            LogJoined(_logger, Id, welcome.Barrier, welcome.View, string.Join(',', welcome.Live), Stopwatch.GetElapsedTime(asked).TotalMilliseconds);
        }
        catch (Exception error)
        {
            _node?.Dispose();
            Heap.Dispose();
            if (error is InvalidOperationException or TimeoutException or DroneUnreachableException)
            {
                throw new LaunchException($"drone {Id} was not admitted to the run: {error.Message}", error);
            }

            throw;
        }
    }

    /// <summary>
    /// Allocates <paramref name="bytes"/> of shared memory at a multiple of <paramref name="alignment"/> (a power of two;
    /// <see cref="PageSize"/> for data on pages of its own) and returns its global address (Tmk_malloc). Any drone may
    /// call it: drone 0's allocator serves the run, and another drone's call is a request to drone 0 that waits for the
    /// reply. The address means the same on every drone; others learn it through shared memory or
    /// <see cref="Distribute(long)"/>. Every drone calling it at once for the same block: <see cref="MallocCollective"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bytes"/> is not positive, or <paramref name="alignment"/> not a positive power of two (checked on this drone).</exception>
    /// <exception cref="SharedHeapExhaustedException">No free block holds the request; the message names it, the bytes free and the largest free block.</exception>
    /// <exception cref="RunAbortedException">The run stopped for this drone (drone 0 failed, say) before or while it waited for drone 0.</exception>
    /// <exception cref="DroneUnreachableException">Drone 0 cannot be reached.</exception>
    /// <exception cref="InvalidOperationException">Drone 0 would not serve this drone (removed from the run, say).</exception>
    public long Malloc(long bytes, int alignment = SharedAllocator.Granule)
    {
        CheckRunning();
        if (Allocator.CheckMalloc(bytes, alignment) is { } refusal)
        {
            throw refusal.ToException();
        }

        var address = Id == 0 || _network is null ? Allocator.Malloc(bytes, alignment) : _network.Allocate(bytes, alignment);
        Statistics.Mallocs++;
        return address;
    }

    /// <summary>
    /// Frees the block of shared memory that starts at <paramref name="address"/> (Tmk_free), allocated by any drone's
    /// <see cref="Malloc"/>. Any drone may call it; on a drone other than 0 it is a request to drone 0 that waits for the reply.
    /// </summary>
    /// <exception cref="InvalidOperationException">The block was freed already (double free).</exception>
    /// <exception cref="ArgumentException">No block starts at the address (never allocated, or inside a block).</exception>
    /// <exception cref="ArgumentOutOfRangeException">The address is outside the shared heap (checked on this drone).</exception>
    /// <exception cref="RunAbortedException">The run stopped for this drone before or while it waited for drone 0.</exception>
    /// <exception cref="DroneUnreachableException">Drone 0 cannot be reached.</exception>
    public void Free(long address)
    {
        CheckRunning();
        if (Allocator.CheckFree(address) is { } refusal)
        {
            throw refusal.ToException();
        }

        if (Id == 0 || _network is null)
        {
            Allocator.Free(address);
        }
        else
        {
            _network.Free(address);
        }
    }

    /// <summary>
    /// A collective allocation (as ArgoDSM's <c>conew_array</c>): every drone calls it with the same
    /// <paramref name="bytes"/> and <paramref name="alignment"/>, drone 0 allocates one block, and every drone gets its
    /// address. Like <see cref="Distribute(long)"/>, a barrier for all drones (two, in fact). Whatever goes wrong goes
    /// wrong on every drone alike, so none is left waiting: each throws the same exception.
    /// </summary>
    /// <exception cref="ArgumentException">The drones passed different sizes or alignments; the message names both.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bytes"/> is not positive, or <paramref name="alignment"/> not a positive power of two.</exception>
    /// <exception cref="SharedHeapExhaustedException">No free block holds the request; the message names it, the bytes free and the largest free block.</exception>
    public long MallocCollective(long bytes, int alignment = SharedAllocator.Granule)
    {
        CheckRunning();
        Heap.BeginSynchronization(SpanSynchronizationKind.CollectiveAllocation); // alone too, as Distribute
        if (MaxDrones == 1)
        {
            return Malloc(bytes, alignment);
        }

        if (_ballots == 0)
        {
            // The first one: drone 0 allocates the ballots (never freed) into which each drone writes what it asks for.
            long ballots = 0;
            if (Id == 0 && Allocator.TryMalloc(2 * BallotBytes, SharedAllocator.Granule, out var block) is null)
            {
                ballots = block;
                Allocator.Pin(block);
            }

            _ballots = Distribute(ballots);
            if (_ballots == 0)
            {
                throw new SharedHeapExhaustedException(
                    $"MallocCollective({bytes}, alignment {alignment}) failed: the shared heap has no room for the {2 * BallotBytes} bytes a run's collective allocations need on drone 0.");
            }
        }

        // Each drone's request goes into its entry of this call's ballot; drone 0 reads them all after a barrier, decides,
        // and writes the outcome, which every drone reads after a second barrier. A ballot is written again only two calls
        // later, after barriers that every reader of it has passed.
        var tag = ++_collectives;
        var ballot = _ballots + ((tag & 1) * BallotBytes);
        Heap.Write(ballot + (Id * (long)BallotEntryBytes), new BallotEntry(bytes, alignment, tag));
        _engine.Barrier(CollectiveBarrier);
        var outcome = ballot + (MaxDrones * (long)BallotEntryBytes);
        if (Id == 0)
        {
            WriteOutcome(outcome, DecideCollective(ballot, tag, bytes, alignment));
        }

        _engine.Barrier(CollectiveBarrier);
        var (address, refusal) = ReadOutcome(outcome);
        return refusal is null ? address : throw refusal.ToException();
    }

    /// <summary>
    /// A collective allocation of <paramref name="count"/> elements of <typeparamref name="T"/> (see
    /// <see cref="MallocCollective"/>): every drone calls it with the same count and gets a view of the same array,
    /// aligned to the element's size when that is a power of two.
    /// </summary>
    /// <exception cref="ArgumentException">The drones passed different counts; the message names both sizes in bytes.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive.</exception>
    /// <exception cref="SharedHeapExhaustedException">No free block holds the array.</exception>
    public SharedArray<T> ArrayCollective<T>(int count)
        where T : unmanaged
    {
        var size = Unsafe.SizeOf<T>();
        var alignment = BitOperations.IsPow2(size) && size <= PageSize ? Math.Max(size, SharedAllocator.Granule) : SharedAllocator.Granule;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return new SharedArray<T>(Heap, MallocCollective((long)count * size, alignment), count);
    }

    // A ballot: an entry per drone slot, then the outcome drone 0 writes, then the outcome's text.
    private const int BallotEntryBytes = 16;
    private const int OutcomeTextBytes = 1024;

    private long BallotBytes => (MaxDrones * (long)BallotEntryBytes) + Unsafe.SizeOf<CollectiveOutcome>() + OutcomeTextBytes;

    /// <summary>What a drone asks of a collective allocation, tagged with the call's number (never 0, so an entry never written is not taken for one).</summary>
    private readonly record struct BallotEntry(long Bytes, int Alignment, int Tag);

    /// <summary>The outcome of a collective allocation: the address, or a refusal whose message and parameter name follow as UTF-8 (a length of -1: no name).</summary>
    private readonly record struct CollectiveOutcome(long Address, long ActualValue, int Kind, int HasActualValue, int MessageBytes, int NameBytes);

    /// <summary>On drone 0: what every drone taking part asked for, the same or not, and drone 0's allocation if the same.</summary>
    private (long Address, AllocationRefusal? Refusal) DecideCollective(long ballot, int tag, long bytes, int alignment)
    {
        foreach (var drone in View.Live.Where(d => d != Id))
        {
            var entry = Heap.Read<BallotEntry>(ballot + (drone * (long)BallotEntryBytes));
            if (entry.Tag != tag)
            {
                // Every live drone takes part (drones join only at the program's barriers, and a newcomer is told the
                // count): one whose entry is of another call is out of step, as when it caught an error of an earlier call.
                return (0, new AllocationRefusal(
                    AllocationRefusalKind.InvalidOperation,
                    $"MallocCollective: drone {drone} is at collective allocation {entry.Tag} and drone {Id} at {tag}; every drone makes the same collective allocations in the same order."));
            }

            if (entry.Bytes != bytes || entry.Alignment != alignment)
            {
                return (0, new AllocationRefusal(
                    AllocationRefusalKind.Argument,
                    $"MallocCollective: drone {drone} asked for {entry.Bytes} bytes at alignment {entry.Alignment} and drone {Id} for {bytes} bytes at alignment {alignment}; every drone passes the same size and alignment.",
                    nameof(bytes)));
            }
        }

        if (Allocator.TryMalloc(bytes, alignment, out var address) is { } refusal)
        {
            return (0, refusal);
        }

        Statistics.Mallocs++;
        return (address, null);
    }

    private void WriteOutcome(long outcome, (long Address, AllocationRefusal? Refusal) decided)
    {
        var (messageBytes, nameBytes) = (0, -1);
        if (decided.Refusal is { } refusal)
        {
            // Cut to fit, at a character's end.
            var text = Heap.WriteSpan<byte>(outcome + Unsafe.SizeOf<CollectiveOutcome>(), OutcomeTextBytes);
            Utf8.FromUtf16(refusal.Message, text, out _, out messageBytes);
            if (refusal.ParamName is { } name)
            {
                Utf8.FromUtf16(name, text[messageBytes..], out _, out nameBytes);
            }
        }

        Heap.Write(outcome, new CollectiveOutcome(
            decided.Address, decided.Refusal?.ActualValue ?? 0, (int)(decided.Refusal?.Kind ?? 0), decided.Refusal?.ActualValue is null ? 0 : 1, messageBytes, nameBytes));
    }

    private (long Address, AllocationRefusal? Refusal) ReadOutcome(long outcome)
    {
        var read = Heap.Read<CollectiveOutcome>(outcome);
        if (read.Kind == 0)
        {
            return (read.Address, null);
        }

        var text = Heap.ReadSpan<byte>(outcome + Unsafe.SizeOf<CollectiveOutcome>(), OutcomeTextBytes);
        var message = System.Text.Encoding.UTF8.GetString(text[..read.MessageBytes]);
        var name = read.NameBytes < 0 ? null : System.Text.Encoding.UTF8.GetString(text.Slice(read.MessageBytes, read.NameBytes));
        return (0, new AllocationRefusal((AllocationRefusalKind)read.Kind, message, name, read.HasActualValue != 0 ? read.ActualValue : null));
    }

    /// <summary>Every drone gets drone 0's <paramref name="value"/> (Tmk_distribute); a barrier for all drones.</summary>
    public long Distribute(long value)
    {
        CheckRunning();
        Heap.BeginSynchronization(SpanSynchronizationKind.Distribute); // alone too: spans behave as they would in a larger run
        if (MaxDrones == 1)
        {
            return value;
        }

        var slot = DistributeSlots + (8L * (_distributions++ & 1));
        if (Id == 0)
        {
            Heap.Write(slot, value);
        }

        _engine.Barrier(DistributeBarrier);
        return Heap.Read<long>(slot);
    }

    /// <summary>
    /// Every drone gets drone 0's <paramref name="value"/>, of any unmanaged type (a struct, say); a barrier for all
    /// drones. The value travels through a block of shared memory drone 0 allocates and frees at the next distribution.
    /// </summary>
    public T Distribute<T>(T value)
        where T : unmanaged
    {
        DistributeBytes(MemoryMarshal.AsBytes(new Span<T>(ref value)));
        return value;
    }

    /// <summary>
    /// Every drone's <paramref name="buffer"/> gets drone 0's bytes (Tmk_distribute of a private range); a barrier for
    /// all drones. Every drone passes a buffer of the same length.
    /// </summary>
    /// <exception cref="ArgumentException">This drone's buffer is not as long as drone 0's.</exception>
    public void Distribute(Span<byte> buffer) => DistributeBytes(buffer);

    private void DistributeBytes(Span<byte> buffer)
    {
        CheckRunning();

        // The bytes are written after the barrier, which may have made those pages read-only or invalid: a write there
        // would be in no interval's write notices, and lost.
        if (Heap.AddressOf(buffer) is { } inHeap)
        {
            throw new ArgumentException(
                $"Drone {Id}: Distribute's buffer lies in the shared heap (global address 0x{inHeap:X}); it takes private memory (an array, stackalloc): copy shared data through one.",
                nameof(buffer));
        }

        if (MaxDrones == 1)
        {
            Heap.BeginSynchronization(SpanSynchronizationKind.Distribute);
            return;
        }

        // Drone 0 writes the bytes, after their length, into a block of its own and passes the block's address as a
        // distributed value; the block of the distribution before is freed once this one's barrier shows every drone
        // has read it.
        // The block is the runtime's (pinned: no Free of the program's hands it out while drones may still read it). A heap
        // with no room for it makes every drone throw, not drone 0 alone while the others wait at the barrier.
        long block = 0;
        SharedHeapExhaustedException? full = null;
        if (Id == 0)
        {
            if (Allocator.TryMalloc(sizeof(long) + Math.Max(buffer.Length, 1), SharedAllocator.Granule, out block) is { } refusal)
            {
                full = (SharedHeapExhaustedException)refusal.ToException();
            }
            else
            {
                Allocator.Pin(block);
                Statistics.Mallocs++;
                Heap.Write(block, (long)buffer.Length);
                buffer.CopyTo(Heap.WriteSpan<byte>(block + sizeof(long), buffer.Length));
            }
        }

        var address = Distribute(block);
        if (address == 0)
        {
            throw full ?? new SharedHeapExhaustedException($"Drone {Id}: Distribute of {buffer.Length} bytes failed: drone 0's shared heap has no room for them.");
        }

        if (Id == 0)
        {
            if (_distributedBlock != 0)
            {
                Allocator.FreePinned(_distributedBlock);
            }

            _distributedBlock = address;
            return;
        }

        var length = Heap.Read<long>(address);
        if (length != buffer.Length)
        {
            throw new ArgumentException($"Drone {Id}: Distribute of {buffer.Length} bytes, but drone 0 distributed {length}: every drone passes the same length.", nameof(buffer));
        }

        Heap.ReadSpan<byte>(address + sizeof(long), buffer.Length).CopyTo(buffer);
    }

    // On drone 0: the block of the last distribution of bytes, freed at the next one.
    private long _distributedBlock;

    /// <summary>A typed view of shared memory.</summary>
    public SharedArray<T> Array<T>(long address, int count)
        where T : unmanaged => new(Heap, address, count);

    /// <summary>A typed view of shared memory whose element count may pass <see cref="int.MaxValue"/>.</summary>
    public SharedLargeArray<T> LargeArray<T>(long address, long count)
        where T : unmanaged => new(Heap, address, count);

    /// <summary>
    /// Acquires lock <paramref name="lockId"/>. Locks are not reentrant: a thread that holds it (or is acquiring it) throws;
    /// a thread whose drone holds it on another thread waits for that thread to release it, as a drone waits for another.
    /// </summary>
    public void LockAcquire(int lockId)
    {
        CheckRunning();
        CheckLock(lockId);
        TakeLock(lockId, condId: null);
        AcquireTaken(lockId);
    }

    /// <summary>
    /// Acquires lock <paramref name="lockId"/> if no other drone holds it or asks for it, without waiting for it: true when
    /// this drone now holds it (with the consistency of <see cref="LockAcquire"/>), false when it is held or asked for
    /// (by this drone too). Answering takes a round trip through the lock's manager unless this drone holds the lock's
    /// token. A refused attempt leaves this drone in the lock's queue: when the lock reaches it, it passes it on to the
    /// next drone that asked, or keeps it for its own next acquire. An attempt may be refused although the lock comes
    /// free at that moment (its holder released it while the refusal was on its way), and every attempt under way while
    /// the run recovers from a failed drone is refused; an attempt never waits for the lock.
    /// </summary>
    public bool LockTryAcquire(int lockId)
    {
        CheckRunning();
        CheckLock(lockId);
        var thread = Environment.CurrentManagedThreadId;
        lock (_conditionGate)
        {
            if (!_locksTaken.TryAdd(lockId, (thread, false)))
            {
                // A thread of this drone holds it or acquires it. Spans end as at any attempt, granted or not.
                Heap.BeginSynchronization(SpanSynchronizationKind.Attempt, lockId);
                return false;
            }
        }

        return AcquireTaken(lockId, attempt: true);
    }

    /// <summary>Releases lock <paramref name="lockId"/>, which this drone must hold.</summary>
    public void LockRelease(int lockId)
    {
        CheckRunning();
        CheckLock(lockId);
        lock (_conditionGate)
        {
            if (_locksTaken.TryGetValue(lockId, out var taker) && taker.Held && taker.Thread != Environment.CurrentManagedThreadId)
            {
                throw new InvalidOperationException($"Drone {Id} releases lock {lockId} on a thread that does not hold it: the thread that acquired a lock releases it.");
            }
        }

        _engine.Release(lockId);
        GiveLockBack(lockId);
    }

    /// <summary>Waits until every drone reaches barrier <paramref name="barrierId"/>.</summary>
    public void Barrier(int barrierId)
    {
        CheckRunning();
        if ((uint)barrierId >= (uint)_barriers)
        {
            throw new ArgumentOutOfRangeException(nameof(barrierId), barrierId, $"Drone {Id}: barrier ids are 0 .. {_barriers - 1} (--barriers {_barriers}; a larger --barriers gives more).");
        }

        _engine.Barrier(barrierId);
    }

    /// <summary>Ends the drone's part in the run after every drone got here; returns the final statistics. Idempotent.</summary>
    /// <remarks>
    /// Every drone but drone 0 then sends its statistics (and, traced, its trace) to drone 0, which holds the whole run's in
    /// <see cref="RunStatistics"/> and writes <c>--stats-json</c> and <c>--trace</c>.
    /// </remarks>
    public DroneStatistics Exit()
    {
        if (!_exited)
        {
            Heap.BeginSynchronization(SpanSynchronizationKind.Exit);

            // A drone that fails before every drone is here is removed as ever; once all are, drones leave as
            // they please after one more barrier, and links closing are not failures.
            _engine.Barrier(ExitBarrier);
            _exiting = true;
            _node?.Leave();

            // What the program did: the runtime's leaving is not counted. The report goes before this drone's arrival at the
            // last barrier, on the same link, so drone 0 holds it when that barrier is met.
            CollectStatistics();
            if (Id != 0 && _network is not null)
            {
                try
                {
                    _network.SendReport(new RunReport(
                        [.. Statistics.Counters()],
                        [.. Statistics.SentByKind.Select(k => (k.Key, k.Value.Messages, k.Value.Bytes))],
                        _engine.Trace?.Dropped ?? 0,
                        _engine.Trace?.Events ?? []));
                }
                catch (Exception error) when (error is DroneUnreachableException or MeshException)
                {
                    LogReportNotSent(_logger, Id, error.Message);
                }
            }

            // Every drone has done its work: one that dies now must not hold the others, who no longer count failures.
            var limit = TimeSpan.FromMilliseconds(Math.Max(10_000, 4 * Options.FailureTimeoutMs));
            try
            {
                if (!_engine.TryBarrier(LeaveBarrier, limit))
                {
                    LogLeftAlone(_logger, Id, limit.TotalSeconds);
                }
            }
            catch (RunAbortedException)
            {
                // Drone 0 left first: every drone had done its work.
                LogLeftAlone(_logger, Id, limit.TotalSeconds);
            }

            _exited = true;
            WakeAllWaiters();
            DroneTelemetry.Remove(this);
            if (Id == 0)
            {
                WriteRunFiles();
            }

            _launcher?.WaitOrKill(TimeSpan.FromSeconds(30));
            LogExited(_logger, Id, Elapsed.TotalMilliseconds);
        }

        return Statistics;
    }

    /// <summary>
    /// On drone 0 after <see cref="Exit"/>: every drone of the run (those it started with, and those that joined, failed
    /// or not) with its statistics, null for one whose report did not come (it failed, or left first); on any other
    /// drone, its own alone.
    /// </summary>
    public IReadOnlyList<(int Drone, DroneStatistics? Stats)> RunStatistics =>
        Id != 0 || _node is null
            ? [(Id, Statistics)]
            : [.. Enumerable.Range(0, MaxDrones)
                .Where(d => d == 0 || d < Count || _reports.ContainsKey(d) || View.Live.Contains(d) || View.Removed.Contains(d))
                .Select(d => (d, d == 0 ? Statistics : _reports.TryGetValue(d, out var report) ? DroneStatistics.From(report.Counters, report.SentByKind) : null))];

    /// <summary>Drone 0's <c>--stats-json</c> and <c>--trace</c> files; a file that cannot be written is logged, never fatal.</summary>
    private void WriteRunFiles()
    {
        if (Options.StatsJson is { } json)
        {
            WriteFile(json, "--stats-json", stream => DroneStatistics.WriteJson(stream, RunStatistics));
        }

        if (Options.Trace is { } trace && _engine.Trace is { } own)
        {
            var traces = new Dictionary<int, (IReadOnlyList<TraceEvent> Events, long Dropped)> { [0] = (own.Events, own.Dropped) };
            foreach (var (drone, report) in _reports)
            {
                traces[drone] = (report.Trace, report.TraceDropped);
            }

            WriteFile(trace, "--trace", stream => ShiVizLog.Write(stream, traces));
        }
    }

    private void WriteFile(string path, string option, Action<Stream> write)
    {
        try
        {
            using var stream = File.Create(path);
            write(stream);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            LogFileNotWritten(_logger, option, path, error.Message);
        }
    }

    /// <summary>The trace a drone keeps for <c>--trace</c>: as many events as its report may carry in a frame.</summary>
    internal static ProtocolTrace? NewTrace(DroneOptions options, int slots)
    {
        if (options.Trace is null)
        {
            return null;
        }

        // As many as half a frame holds (at their largest encoding), and no more than drone 0 takes in a report.
        var frame = DroneOptions.FrameLimit(options.PageSize, ByteSize.Parse(options.GcThreshold, "--gc-threshold"));
        return new ProtocolTrace((int)Math.Min(Math.Max(frame / 2 / (16L + (5L * slots)), 1000), RunReport.MaxTraceEventsFor(slots)));
    }

    /// <summary>Ends the drone: without <see cref="Exit"/> first, it leaves the run at once (the others take it for failed).</summary>
    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        WakeAllWaiters();
        DroneTelemetry.Remove(this);
        _backstop?.Dispose();
        if (!_exited)
        {
            // After a failure the drones drone 0 started stop by themselves (they learn it too): a moment for them to
            // say so; otherwise (the program failed) they are stopped now.
            _exiting = true;
            _launcher?.WaitOrKill(_failure is null ? TimeSpan.Zero : FailureGrace + TimeSpan.FromSeconds(1));
        }

        _node?.Dispose();
        _launcher?.Dispose();
        Heap.Dispose();
    }

    /// <summary>
    /// Protocol messages this drone has sent to the other drones so far (heartbeats and link control are not counted):
    /// a count that does not depend on the machine, for comparing runs and programs.
    /// </summary>
    public long MessagesSent => ProtocolTraffic().MessagesOut;

    /// <summary>Consistency data (records, notices, diffs, twins) this drone holds now, in bytes; the collection threshold bounds it.</summary>
    internal long ConsistencyBytes => _engine.ConsistencyBytes;

    /// <summary>Garbage collections of consistency data this drone took part in so far.</summary>
    internal long ConsistencyCollections => _engine.Statistics.GarbageCollections;

    /// <summary>
    /// Protocol messages and bytes (frames as sent, heartbeats and link control left out) this drone has sent to and
    /// received from every other drone so far: counts that do not depend on the machine, for benchmarks and tests.
    /// </summary>
    internal (long MessagesIn, long BytesIn, long MessagesOut, long BytesOut) ProtocolTraffic()
    {
        var traffic = (MessagesIn: 0L, BytesIn: 0L, MessagesOut: 0L, BytesOut: 0L);
        foreach (var peer in Enumerable.Range(0, MaxDrones).Where(p => p != Id))
        {
            if (_node?.CountersOf(peer) is not { } counters)
            {
                continue;
            }

            for (var kind = 0; kind < 256; kind++)
            {
                if (ProtocolCodec.IsProtocolKind((byte)kind) || kind == ProtocolCodec.ConditionWakeKind)
                {
                    traffic.MessagesIn += counters.ReceivedMessages((byte)kind);
                    traffic.BytesIn += counters.ReceivedBytes((byte)kind);
                    traffic.MessagesOut += counters.SentMessages((byte)kind);
                    traffic.BytesOut += counters.SentBytes((byte)kind);
                }
            }
        }

        return traffic;
    }

    private void CollectStatistics()
    {
        var s = _engine.Statistics;
        Statistics.ReadFaults = Heap.ReadFaults;
        Statistics.WriteFaults = Heap.WriteFaults;
        Statistics.TwinsMade = s.TwinsMade;
        Statistics.TwinsKept = s.TwinsKept;
        Statistics.IntervalsClosed = s.IntervalsClosed;
        Statistics.DiffsMade = s.DiffsMade;
        Statistics.DiffBytesMade = s.DiffBytesMade;
        Statistics.DiffsApplied = s.DiffsApplied;
        Statistics.DiffBytesApplied = s.DiffBytesApplied;
        Statistics.LockAcquiresLocal = s.LockAcquiresLocal;
        Statistics.LockAcquiresRemote = s.LockAcquiresRemote;
        Statistics.LockAttemptsBusy = s.LockAttemptsBusy;
        Statistics.LockWaitTicks = s.LockWaitTicks;
        Statistics.Barriers = s.Barriers;
        Statistics.RuntimeBarriers = s.RuntimeBarriers;
        Statistics.BarrierWaitTicks = s.BarrierWaitTicks;
        Statistics.GarbageCollections = s.GarbageCollections;
        Statistics.MissTicks = s.MissTicks;
        Statistics.GcPause = GC.GetTotalPauseDuration();
        Statistics.WriteFaultTicks = s.WriteFaultTicks;
        Statistics.Wall = Elapsed;
        if (_node is not null)
        {
            // Summed afresh each time: the statistics may be collected more than once.
            var (messages, bytes, silence) = (0L, 0L, 0L);
            foreach (var peer in Enumerable.Range(0, MaxDrones).Where(p => p != Id))
            {
                if (_node.CountersOf(peer) is { } counters)
                {
                    messages += counters.TotalSentMessages;
                    bytes += counters.TotalSentBytes;
                    silence = Math.Max(silence, counters.LongestSilenceMs);
                }
            }

            (Statistics.MessagesSent, Statistics.BytesSent, Statistics.LongestSilenceMs) = (messages, bytes, silence);
            Statistics.SentByKind = SentByKind();
        }
    }

    /// <summary>Messages and bytes this drone sent to every other so far, by message kind (mesh and protocol kinds).</summary>
    internal Dictionary<string, (long Messages, long Bytes)> SentByKind()
    {
        var byKind = new Dictionary<string, (long Messages, long Bytes)>();
        if (_node is null)
        {
            return byKind;
        }

        foreach (var peer in Enumerable.Range(0, MaxDrones).Where(p => p != Id))
        {
            if (_node.CountersOf(peer) is not { } counters)
            {
                continue;
            }

            for (var kind = 0; kind < 256; kind++)
            {
                var messages = counters.SentMessages((byte)kind);
                if (messages > 0)
                {
                    var name = ProtocolCodec.Name((byte)kind);
                    var (m, b) = byKind.GetValueOrDefault(name);
                    byKind[name] = (m + messages, b + counters.SentBytes((byte)kind));
                }
            }
        }

        return byKind;
    }

    /// <summary>This drone's protocol engine (for its statistics).</summary>
    internal LrcEngine Engine => _engine;

    /// <summary>This drone's mesh node, or null in a run of one drone (for tests that speak to a drone as a peer would).</summary>
    internal MeshNode? Mesh => _node;

    private void OnPeerFailed(int peer, string reason)
    {
        if (_exiting)
        {
            return;
        }

        if (peer != 0)
        {
            // Only drone 0, the barrier manager, decides: the run goes on in the view it announces.
            _engine.Suspect(peer, reason);
            return;
        }

        // Drone 0 (the barrier manager) is assumed not to fail; without it the run cannot go on: every wait ends.
        Fail(
            _joining && JoinedAt is null
                ? $"drone 0 left before admitting this drone (the run had no barrier left, or ended): {reason}"
                : $"drone 0 failed ({reason})",
            DroneExitCodes.DroneZeroGone);
    }

    /// <summary>
    /// A peer silent for a failure timeout (or another). Drone 0 decides on the others' silence with its own link, so
    /// reports only tell it; drone 0's own silence is borne for <see cref="DroneZeroSilenceTimeouts"/> failure timeouts
    /// (it decides views and cannot be replaced: a pause of its process must not end the run), after which the run
    /// cannot go on. A process that died closes its links, which ends the run at once whatever this says.
    /// </summary>
    private void OnPeerSilent(int peer, long silentMs)
    {
        if (_exiting || _failure is not null)
        {
            return;
        }

        if (peer != 0)
        {
            _engine.Suspect(peer, $"silent for {silentMs} ms", silent: true);
        }
        else if (silentMs >= DroneZeroSilenceTimeouts * (long)Options.FailureTimeoutMs)
        {
            Fail($"drone 0 failed (silent for {silentMs} ms)", DroneExitCodes.DroneZeroGone);
        }
    }

    private void OnViewChanged(MembershipView view)
    {
        LogViewChanged(_logger, Id, view.Number, string.Join(',', view.Live), view.Removed.Count == 0 ? "none" : string.Join(',', view.Removed));

        int[] newlyRemoved;
        lock (_removedSeen)
        {
            newlyRemoved = view.Removed.Where(_removedSeen.Add).ToArray();
        }

        if (!_exiting && !view.Contains(Id))
        {
            // Declared failed (cut off, say): the others go on without this drone, so it must not go on either.
            Fail($"drone 0 removed this drone from the run (view {view.Number})", DroneExitCodes.Removed);
        }
        else if (!_exiting && newlyRemoved.Length > 0 && !Options.RecoversFromFailures)
        {
            // Fail fast, here and now (on drone 0 before the view lets any barrier complete without the failed drone): a
            // program that has not said it recovers would go on without the failed drone's work.
            // Drone 0 decided the removals in order: the first is the failure, any later one a drone that stopped on it
            // (views decided on other threads can reach here in another order).
            var order = Id == 0 ? _engine.RemovedInOrder : newlyRemoved;
            var first = order.Count > 0 ? order[0] : newlyRemoved[0];
            _failedDrones = Id == 0 ? [.. order] : newlyRemoved;
            Fail($"drone {first} failed and the program does not recover from failures", DroneExitCodes.DroneFailed);
        }

        if (newlyRemoved.Length > 0)
        {
            WakeWaitersSpuriously(); // a signal may have gone to a waiter of a drone that left
        }

        foreach (var removed in newlyRemoved)
        {
            // Nothing a removed drone says is taken from now on (a drone removed while alive may still answer).
            _node?.Disconnect(removed, $"removed in view {view.Number}");
            if ((Options.RecoversFromFailures || _exiting) && _launcher is { } launcher)
            {
                // A drone removed while alive learns it and exits with its own message; one that does not (stopped,
                // hung) is ended after a while, so that none lingers.
                _ = Task.Delay(AbandonAfter).ContinueWith(_ => launcher.Abandon(removed), TaskScheduler.Default);
            }
        }

        // A drone of the view this drone has no link to (it failed while joining, say) is failing: report it, since
        // its link will never break again to report it. (After this view decided how the run goes on.)
        foreach (var peer in view.Live.Where(p => p != Id && _node?.GetLink(p) is null && !_exiting && _failure is null))
        {
            _engine.Suspect(peer, $"no link to it in view {view.Number}");
        }

        try
        {
            ViewChanged?.Invoke(view);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // A subscriber runs on a network thread: its error is the program's, not the peer's.
            LogViewHandlerFailed(_logger, Id, view.Number, error.ToString());
        }
    }

    /// <summary>
    /// For a host that caught <paramref name="error"/> from the program: why the run stopped for this drone, or null when
    /// the error is the program's own. An error of the network or the run (an unreachable drone, a request another drone
    /// refused) can reach the program just before the news of the failure behind it: then the news is waited for, a
    /// few seconds at most.
    /// </summary>
    public string? AwaitFailure(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (_failure is { } reason || error is not (MeshException or DroneUnreachableException or RunAbortedException))
        {
            return _failure;
        }

        lock (_removedSeen)
        {
            var deadline = DateTime.UtcNow + FailureGrace;
            while (_failure is null && DateTime.UtcNow < deadline)
            {
                Monitor.Wait(_removedSeen, deadline - DateTime.UtcNow);
            }

            return _failure;
        }
    }

    /// <summary>
    /// Why the run stopped for this drone (<see cref="FailureReason"/>), and on drone 0, for drones that failed in a run
    /// that does not recover: why each was taken for failed and, when drone 0 started it, how its process ended and
    /// its last error lines (waiting up to 2 s for a process to end). Null while the run goes on. For the application
    /// thread (it may wait).
    /// </summary>
    public string? FailureReport()
    {
        if (_failure is not { } reason)
        {
            return null;
        }

        if (_failedDrones is not { } removed || _engine.RemovalReason(removed[0]) is null)
        {
            return reason;
        }

        // Drones removed after the first (they stopped on its failure, or failed too) come after it, in order. The
        // processes get 2 s in all to end, so that the report comes within the backstop's grace.
        var report = new System.Text.StringBuilder(reason);
        var deadline = DateTime.UtcNow + ReportTime;
        foreach (var drone in _engine.RemovedInOrder)
        {
            report.AppendLine().Append(CultureInfo.InvariantCulture, $"  drone {drone}: taken for failed because {_engine.RemovalReason(drone) ?? "it was reported failed"}");
            var left = deadline - DateTime.UtcNow;
            if (_launcher?.ExitOf(drone, left > TimeSpan.Zero ? left : TimeSpan.Zero) is { } exit)
            {
                report.AppendLine().Append("  ").Append(exit.Describe());
            }
        }

        return report.ToString();
    }

    /// <summary>
    /// Ends this drone's part in the run, once, for <paramref name="reason"/>: every wait under way or to come throws a
    /// <see cref="RunAbortedException"/>, <see cref="Failed"/> is raised, and a program's drone (started by
    /// <see cref="Start"/>) whose application does not end by itself within a few seconds is ended with
    /// <paramref name="exitCode"/> so that none lingers.
    /// </summary>
    private void Fail(string reason, int exitCode)
    {
        lock (_removedSeen)
        {
            if (_failure is not null)
            {
                return;
            }

            _failureCode = exitCode;
            _failure = reason;
            Monitor.PulseAll(_removedSeen);
        }

        LogRunStopped(_logger, Id, exitCode, reason);
        _node?.Leave(); // links that close from now on are the run ending, not news
        _engine.Abort(reason);
        WakeAllWaiters();
        if (_exitOnPeerFailure && _endProcess is { } endProcess)
        {
            // Time for the report (drone 0 waits up to 2 s in all for the processes it names) and the program's own end.
            _backstop = new Timer(
                _ =>
                {
                    if (Volatile.Read(ref _disposed))
                    {
                        return; // the program ended the drone itself
                    }

                    try
                    {
                        Console.Error.WriteLine($"drone {Id}: {reason}; exiting with code {exitCode}.");
                        _launcher?.WaitOrKill(TimeSpan.Zero);
                    }
                    catch (Exception error) when (error is InvalidOperationException or IOException or ObjectDisposedException)
                    {
                        // Ending anyway: the launcher or the console went with the program's own end.
                    }

                    try
                    {
                        endProcess(exitCode);
                    }
                    catch (Exception error) when (error is not OutOfMemoryException)
                    {
                        LogViewHandlerFailed(_logger, Id, ViewNumber, $"ending the process failed: {error}");
                    }
                },
                null,
                FailureGrace + ReportTime,
                Timeout.InfiniteTimeSpan);
        }

        try
        {
            Failed?.Invoke(reason);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            LogViewHandlerFailed(_logger, Id, ViewNumber, error.ToString());
        }
    }

    private void CheckLock(int lockId)
    {
        if ((uint)lockId >= (uint)_locks)
        {
            throw new ArgumentOutOfRangeException(nameof(lockId), lockId, $"Drone {Id}: lock ids are 0 .. {_locks - 1} (--locks {_locks}; a larger --locks gives more).");
        }
    }

    private void CheckRunning()
    {
        if (_exited)
        {
            throw new InvalidOperationException($"Drone {Id} has exited; no more shared-memory operations are allowed.");
        }

        if (_failure is { } failure)
        {
            throw new RunAbortedException($"Drone {Id} cannot go on: {failure}.");
        }
    }


    private static int ParseVariable(string name, string? value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw new OptionsException($"{name}: '{value}' is not a drone number.");

    [LoggerMessage(Level = LogLevel.Information, Message = "drone {DroneId}: started, {Drones} drone(s), heap {HeapBytes} bytes in pages of {PageSize}")]
    private static partial void LogStarted(ILogger logger, int droneId, int drones, long heapBytes, int pageSize);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: view {View}: live {Live}, removed {Removed}")]
    private static partial void LogViewChanged(ILogger logger, int droneId, int view, string live, string removed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: joined the run at barrier {Barrier}, view {View}: live {Live}; admitted {ElapsedMs:F1} ms after asking")]
    private static partial void LogJoined(ILogger logger, int droneId, int barrier, int view, string live, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: not every drone reached the run's last barrier within {Seconds:F0} s (one failed on its way out); leaving without it")]
    private static partial void LogLeftAlone(ILogger logger, int droneId, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "drone {DroneId}: a ViewChanged handler failed on view {View}: {Error}")]
    private static partial void LogViewHandlerFailed(ILogger logger, int droneId, int view, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "drone {DroneId}: the run stops (exit code {ExitCode}): {Reason}")]
    private static partial void LogRunStopped(ILogger logger, int droneId, int exitCode, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "drone {DroneId}: exited after {ElapsedMs:F1} ms")]
    private static partial void LogExited(ILogger logger, int droneId, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drone {DroneId}: its statistics could not be sent to drone 0 (the run's table will lack them): {Reason}")]
    private static partial void LogReportNotSent(ILogger logger, int droneId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "drone 0: {Option} {Path} could not be written: {Reason}")]
    private static partial void LogFileNotWritten(ILogger logger, string option, string path, string reason);
}
