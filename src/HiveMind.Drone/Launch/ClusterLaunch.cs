using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using HiveMind.Net.Transport;

namespace HiveMind.Launch;

/// <summary>
/// A drone started by a cluster's own launcher (<c>--launcher slurm</c>, <c>mpi</c> or <c>env</c>): every drone of the run is
/// started at once by srun, mpirun or another engine, and each finds its place in its environment. Drone 0 listens at the
/// rendezvous; the others connect to it there. The cluster key comes from <c>--key-file</c> on a file system every node sees
/// (drone 0 creates it when missing, the others wait for it) or from <c>HIVEMIND_CLUSTER_KEY</c> exported to every drone.
/// </summary>
internal static class ClusterLaunch
{
    /// <summary>The generic contract's variable with this drone's id, 0 .. <see cref="DronesVariable"/> - 1 (same name as a local drone's).</summary>
    public const string IdVariable = LocalLauncher.IdVariable;

    /// <summary>The generic contract's variable with the number of drones.</summary>
    public const string DronesVariable = LocalLauncher.DronesVariable;

    /// <summary>HOST:PORT where drone 0 listens and the others find it, when <c>--rendezvous</c> is not given.</summary>
    public const string RendezvousVariable = "HIVEMIND_RENDEZVOUS";

    /// <summary>The run's key (base64), when no <c>--key-file</c> is given.</summary>
    public const string KeyVariable = LocalLauncher.KeyVariable;

    // Ports derived from a job's id fall in 20000 .. 31999: below Linux's ephemeral ports (32768 and up).
    private const int DerivedPortBase = 20000;
    private const int DerivedPorts = 12000;

    /// <summary>
    /// This drone's place in a run started by <paramref name="options"/>' launcher, read from <paramref name="environment"/>
    /// (a variable's value, or null). Throws <see cref="OptionsException"/> naming what is missing or wrong and what to give.
    /// </summary>
    public static DronePlacement Place(DroneOptions options, Func<string, string?> environment, TimeSpan keyWait)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(environment);
        var (id, drones, rendezvous, spansHosts, run) = options.LaunchedBy switch
        {
            LauncherKind.Slurm => Slurm(options, environment),
            LauncherKind.Mpi => Mpi(options, environment),
            LauncherKind.Env => Env(options, environment),
            _ => throw new ArgumentException($"--launcher {options.LaunchedBy} is not a cluster launcher", nameof(options)),
        };
        var what = $"--launcher {Name(options.LaunchedBy)}";
        if (options.GivenNames?.Contains("drones") == true && options.Drones != drones)
        {
            throw new OptionsException($"--drones {options.Drones}: {what} started {drones} drone(s); leave --drones out or make it {drones}.");
        }

        options.Drones = drones;
        var listen = options.ListenIp;
        var advertise = options.AdvertiseIp;
        // One drone alone needs no key; a run's drones prove a key bound to this run (its launcher's job and step, and its
        // rendezvous), so that two runs that share a key file and meet at one port by chance refuse each other.
        var key = drones == 1 ? null : ForRun(Key(options, id, environment, keyWait, what), $"{run} {rendezvous}");
        if (id == 0)
        {
            // Drone 0 listens at the rendezvous. A node name that resolves to loopback on its own node (Debian's
            // /etc/hosts) while the other nodes reach it by its network address: listen everywhere instead.
            var address = listen ?? (spansHosts && IPAddress.IsLoopback(rendezvous.Address) ? IPAddress.Any : rendezvous.Address);
            return new DronePlacement(0, drones)
            {
                ClusterKey = key,
                Listen = new IPEndPoint(address, rendezvous.Port),
                Advertise = advertise ?? (HostRoutes.IsUnspecified(address) ? rendezvous.Address : null),
                RegistryFromLauncher = true,
            };
        }

        IPAddress source;
        try
        {
            source = listen ?? HostRoutes.SourceToward(rendezvous);
        }
        catch (System.Net.Sockets.SocketException error)
        {
            throw new OptionsException($"{what}: drone {id} has no route to the rendezvous {rendezvous} ({error.SocketErrorCode}); check --rendezvous or give --listen-address.", error);
        }

        return new DronePlacement(id, drones)
        {
            Registry = rendezvous.ToString(),
            ClusterKey = key,
            Listen = new IPEndPoint(source, 0),
            Advertise = advertise,
            RegistryFromLauncher = true,
        };
    }

    /// <summary>The option's spelling of <paramref name="kind"/>.</summary>
    public static string Name(LauncherKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>The launcher a process started by srun or mpirun would need, when it was started by one with several tasks; else null.</summary>
    public static LauncherKind? StartedBy(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);

        // MPI first: ranks that mpirun starts inside a Slurm allocation also see its daemons' SLURM_ variables.
        if (Number(environment, "OMPI_COMM_WORLD_SIZE") is > 1 || Number(environment, "PMI_SIZE") is > 1)
        {
            return LauncherKind.Mpi;
        }

        return Number(environment, "SLURM_STEP_NUM_TASKS") is > 1 && environment("SLURM_PROCID") is not null ? LauncherKind.Slurm : null;
    }

    private static (int Id, int Drones, IPEndPoint Rendezvous, bool SpansHosts, string Run) Slurm(DroneOptions options, Func<string, string?> environment)
    {
        const string what = "--launcher slurm";
        const string how = "run the program as the tasks of srun (srun -n 4 ./App --launcher slurm), not as a batch script's own step";
        var id = Required(environment, "SLURM_PROCID", what, how);

        // SLURM_STEP_NUM_TASKS is set for the tasks of an srun step only; a batch script's own step has SLURM_NTASKS too.
        var drones = Required(environment, "SLURM_STEP_NUM_TASKS", what, how);
        var nodes = environment("SLURM_STEP_NODELIST") ?? environment("SLURM_JOB_NODELIST") ?? environment("SLURM_NODELIST");
        CheckRank(id, drones, what);
        var spansHosts = Number(environment, "SLURM_STEP_NUM_NODES") is > 1 || Number(environment, "SLURM_JOB_NUM_NODES") is > 1;
        var job = Number(environment, "SLURM_JOB_ID");
        var step = Number(environment, "SLURM_STEP_ID") ?? 0;
        var run = $"slurm {job}.{step}";
        if (Rendezvous(options, environment) is { } given)
        {
            return (id, drones, given, spansHosts, run);
        }

        if (nodes is null)
        {
            throw new OptionsException($"{what}: SLURM_STEP_NODELIST is not set, so drone 0's node is unknown; give --rendezvous HOST:PORT.");
        }

        string first;
        try
        {
            first = SlurmHostList.First(nodes);
        }
        catch (FormatException error)
        {
            throw new OptionsException($"{what}: {error.Message} Give --rendezvous HOST:PORT.", error);
        }

        if (job is null)
        {
            throw new OptionsException($"{what}: SLURM_JOB_ID is not set, so no rendezvous port can be derived; give --rendezvous HOST:PORT.");
        }

        var port = DerivedPort(run);
        if (id == 0 && environment("SLURMD_NODENAME") is { } node && !string.Equals(node, first, StringComparison.Ordinal))
        {
            throw new OptionsException($"{what}: task 0 runs on {node}, not on the step's first node {first} where the others look for it; use the block or cyclic distribution, or give --rendezvous {node}:{port}.");
        }

        return (id, drones, Endpoint($"{first}:{port}", what), spansHosts, run);
    }

    private static (int Id, int Drones, IPEndPoint Rendezvous, bool SpansHosts, string Run) Mpi(DroneOptions options, Func<string, string?> environment)
    {
        const string what = "--launcher mpi";
        (string Rank, string? Size) variables = environment("OMPI_COMM_WORLD_RANK") is not null ? ("OMPI_COMM_WORLD_RANK", (string?)"OMPI_COMM_WORLD_SIZE")
            : environment("PMI_RANK") is not null ? ("PMI_RANK", (string?)"PMI_SIZE")
            : environment("PMIX_RANK") is not null ? ("PMIX_RANK", (string?)null)
            : throw new OptionsException($"{what}: none of OMPI_COMM_WORLD_RANK, PMI_RANK or PMIX_RANK is set; run the program as the ranks of mpirun (mpirun -np 4 ./App --launcher mpi).");
        var id = Required(environment, variables.Rank, what, "run the program as the ranks of mpirun");
        var drones = variables.Size is { } sizeVariable ? Required(environment, sizeVariable, what, "run the program as the ranks of mpirun")
            : options.GivenNames?.Contains("drones") == true ? options.Drones
            : throw new OptionsException($"{what}: PMIX_RANK gives this drone's rank but nothing gives the run's size; give --drones N.");
        CheckRank(id, drones, what);
        var local = Number(environment, "OMPI_COMM_WORLD_LOCAL_SIZE") ?? Number(environment, "MPI_LOCALNRANKS");
        var spansHosts = local is null || local < drones;
        var job = environment("OMPI_MCA_ess_base_jobid") ?? environment("PMIX_NAMESPACE") ?? environment("PMI_JOBID");
        var run = $"mpi {job}";
        if (Rendezvous(options, environment) is { } given)
        {
            return (id, drones, given, spansHosts, run);
        }

        if (spansHosts || job is null)
        {
            throw new OptionsException(spansHosts
                ? $"{what}: the ranks run on several hosts (or the launcher does not say), so drone 0's host is unknown; give --rendezvous HOST:PORT, with the host of rank 0 and a free port."
                : $"{what}: the launcher gives no job id to derive a rendezvous port from; give --rendezvous 127.0.0.1:PORT with a free port.");
        }

        // Every rank runs on this host: drone 0 listens on loopback, at a port every rank derives from the job id.
        return (id, drones, new IPEndPoint(IPAddress.Loopback, DerivedPort(run)), false, run);
    }

    private static (int Id, int Drones, IPEndPoint Rendezvous, bool SpansHosts, string Run) Env(DroneOptions options, Func<string, string?> environment)
    {
        const string what = "--launcher env";
        const string how = $"the launcher sets {IdVariable} (0 .. N-1), {DronesVariable} (N) and {RendezvousVariable} (drone 0's HOST:PORT) for every drone";
        var id = Required(environment, IdVariable, what, how);
        var drones = environment(DronesVariable) is not null ? Required(environment, DronesVariable, what, how)
            : options.GivenNames?.Contains("drones") == true ? options.Drones
            : throw new OptionsException($"{what}: {DronesVariable} is not set; {how}, or give --drones N.");
        CheckRank(id, drones, what);
        var rendezvous = Rendezvous(options, environment)
            ?? throw new OptionsException($"{what}: neither --rendezvous nor {RendezvousVariable} gives drone 0's HOST:PORT; {how}.");
        return (id, drones, rendezvous, false, "env");
    }

    private static void CheckRank(int id, int drones, string what)
    {
        if ((uint)id >= (uint)drones)
        {
            throw new OptionsException($"{what}: this drone's rank {id} is not below the run's size {drones}.");
        }
    }

    private static IPEndPoint? Rendezvous(DroneOptions options, Func<string, string?> environment) =>
        options.Rendezvous is { } given ? Endpoint(given, "--rendezvous")
        : environment(RendezvousVariable) is { } variable ? Endpoint(variable, RendezvousVariable)
        : null;

    private static IPEndPoint Endpoint(string text, string what) => HostAddress.ParseEndpoint(text, what, anyPort: false);

    // A port from the run's identity, spread over the whole range (SHA-256), so that job ids a fixed distance apart do not
    // meet at one port.
    private static int DerivedPort(string run) =>
        DerivedPortBase + (int)(BinaryPrimitives.ReadUInt32LittleEndian(SHA256.HashData(Encoding.UTF8.GetBytes(run))) % DerivedPorts);

    // The key the drones of one run prove: the shared key bound to the run's identity (HMAC-SHA-256).
    private static byte[] ForRun(byte[] key, string run) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"hivemind run {run}"));

    private static byte[] Key(DroneOptions options, int id, Func<string, string?> environment, TimeSpan wait, string what)
    {
        if (options.KeyFile is { } path)
        {
            return id == 0 ? ClusterKeyFile.LoadOrCreate(path) : ClusterKeyFile.WaitAndLoad(path, wait);
        }

        if (environment(KeyVariable) is { } text)
        {
            try
            {
                var key = Convert.FromBase64String(text.Trim());
                return key.Length >= 16 ? key : throw new OptionsException($"{what}: {KeyVariable} holds {key.Length} bytes; the key needs at least 16.");
            }
            catch (FormatException error)
            {
                throw new OptionsException($"{what}: {KeyVariable} is not base64.", error);
            }
        }

        throw new OptionsException(
            $"{what}: the drones need a shared cluster key: give --key-file PATH on a file system every node sees (drone 0 creates it, mode 600), " +
            $"or export {KeyVariable} (base64 of 32 random bytes, such as the output of `head -c 32 /dev/urandom | base64`) to every drone.");
    }

    private static int Required(Func<string, string?> environment, string variable, string what, string how)
    {
        var text = environment(variable) ?? throw new OptionsException($"{what}: {variable} is not set; {how}.");
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= DroneOptions.MaxDrones * 1024
            ? value
            : throw new OptionsException($"{what}: {variable}='{text}' is not a whole number.");
    }

    private static long? Number(Func<string, string?> environment, string variable) =>
        long.TryParse(environment(variable), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
}
