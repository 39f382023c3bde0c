using System.Net;
using HiveMind.Launch;

namespace HiveMind.DroneTests;

/// <summary>
/// Drones started by a cluster's launcher (srun, mpirun, any other through the environment contract): each finds its id,
/// the run's size, the rendezvous and the key in its environment, and bad or missing settings get an error that says
/// what to give. The real srun and mpirun runs are in the end-to-end tests.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ClusterLaunchTests : IDisposable
{
    private static readonly TimeSpan KeyWait = TimeSpan.FromSeconds(5);
    private readonly string _folder = Directory.CreateTempSubdirectory("hivemind-cluster-").FullName;

    [Theory]
    [InlineData("node7", "node7", 1)]
    [InlineData("node[01-04,07],gpu5", "node01", 6)]
    [InlineData("gpu5,node[1-2]", "gpu5", 3)]
    [InlineData("rack[1-2]-n[08-10]", "rack1-n08", 6)]
    [InlineData("n[9-11]", "n9", 3)]
    public void SlurmHostList_GivesTheFirstHostAndEveryHost(string list, string first, int count)
    {
        Assert.Equal(first, SlurmHostList.First(list));
        var all = SlurmHostList.Expand(list);
        Assert.True(all.Count == count, $"'{list}' expanded to {all.Count} hosts ({string.Join(' ', all)}), not {count}");
        Assert.Equal(first, all[0]);
    }

    [Fact]
    public void SlurmHostList_KeepsZeroPaddingAndOrder()
    {
        Assert.Equal(["node08", "node09", "node10", "node12", "login"], SlurmHostList.Expand("node[08-10,12],login"));
        Assert.Equal(["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"], SlurmHostList.Expand("rack[1-2]-n[1-2]"));
    }

    [Theory]
    [InlineData("node[1-3", "an unclosed bracket")]
    [InlineData("node[3-1]", "'3-1' in 'node[3-1]' is not a number or a rising range")]
    [InlineData("node[a]", "'a' in 'node[a]' is not a number")]
    [InlineData("a,,b", "an empty host name")]
    [InlineData("", "an empty host name")]
    public void SlurmHostList_Malformed_IsRefusedNamingTheList(string list, string expected)
    {
        var error = Assert.Throws<FormatException>(() => SlurmHostList.Expand(list));
        Assert.Contains($"Slurm host list '{list}'", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Slurm_TaskZero_ListensAtTheFirstNodeOnAPortFromTheJob_AndTheOthersFindItThere()
    {
        var key = new byte[32];
        var slurm = SlurmStep(job: "4242", step: "3", task: 0, key);
        var zero = Place(["--launcher", "slurm"], slurm);
        Assert.Equal((0, 4), (zero.Id, zero.Drones));
        var port = zero.Listen!.Port;
        Assert.True(IPAddress.IsLoopback(zero.Listen.Address) && port is >= 20000 and < 32000, $"task 0 listens at {zero.Listen}, not on localhost below the ephemeral ports");
        Assert.Null(zero.Registry);
        Assert.False(zero.LaunchOthers, "under srun drone 0 must not start drones of its own");
        Assert.True(zero.RegistryFromLauncher);

        var three = Place(["--launcher", "slurm"], SlurmStep(job: "4242", step: "3", task: 3, key));
        Assert.Equal((3, 4), (three.Id, three.Drones));
        Assert.Equal($"127.0.0.1:{port}", three.Registry);
        Assert.True(three.Listen is { Port: 0 } mine && IPAddress.IsLoopback(mine.Address), $"task 3 listens at {three.Listen}, not on loopback (its route to drone 0) at any port");
        Assert.Equal(zero.ClusterKey, three.ClusterKey);
        Assert.NotEqual(key, three.ClusterKey); // the run proves a key bound to its job and step, not the shared one
    }

    [Theory]
    [InlineData("4242", "3", "4242", "19")] // steps 16 apart
    [InlineData("100", "0", "850", "0")] // jobs 750 apart
    [InlineData("7", "0", "8", "0")]
    public void Slurm_OtherJobsAndSteps_MeetAtOtherPortsAndProveOtherKeys(string job, string step, string otherJob, string otherStep)
    {
        var key = new byte[32];
        var one = Place(["--launcher", "slurm"], SlurmStep(job, step, task: 0, key));
        var other = Place(["--launcher", "slurm"], SlurmStep(otherJob, otherStep, task: 0, key));
        Assert.True(one.Listen!.Port != other.Listen!.Port, $"job {job} step {step} and job {otherJob} step {otherStep} both meet at port {one.Listen.Port}");
        Assert.NotEqual(one.ClusterKey, other.ClusterKey);
    }

    [Fact]
    public void Slurm_BatchScriptsOwnStep_IsNotTakenForATaskOfSrun()
    {
        // sbatch sets SLURM_PROCID and SLURM_NTASKS in the batch script itself; only srun's tasks have SLURM_STEP_NUM_TASKS.
        var batch = new Dictionary<string, string> { ["SLURM_PROCID"] = "0", ["SLURM_NTASKS"] = "4", ["SLURM_JOB_ID"] = "9" };
        Assert.Null(ClusterLaunch.StartedBy(Variables(batch)));
        var error = Assert.Throws<OptionsException>(() => Place(["--launcher", "slurm"], batch));
        Assert.Contains("SLURM_STEP_NUM_TASKS is not set; run the program as the tasks of srun", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Slurm_TaskZeroOnAnotherNodeThanTheFirst_IsRefusedWithTheWayOut()
    {
        var error = Assert.Throws<OptionsException>(() => Place(["--launcher", "slurm"], new Dictionary<string, string>
        {
            ["SLURM_PROCID"] = "0",
            ["SLURM_STEP_NUM_TASKS"] = "2",
            ["SLURM_STEP_NODELIST"] = "node[1-2]",
            ["SLURMD_NODENAME"] = "node2",
            ["SLURM_JOB_ID"] = "7",
            ["HIVEMIND_CLUSTER_KEY"] = Convert.ToBase64String(new byte[32]),
        }));
        Assert.Contains("task 0 runs on node2, not on the step's first node node1", error.Message, StringComparison.Ordinal);
        Assert.Contains("--rendezvous node2:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mpi_OpenMpiRanksOnOneHost_MeetOnLoopbackAtAPortFromTheJob_WhichSeveralHostsMustGive()
    {
        var mpi = new Dictionary<string, string>
        {
            ["OMPI_COMM_WORLD_RANK"] = "1",
            ["OMPI_COMM_WORLD_SIZE"] = "4",
            ["OMPI_COMM_WORLD_LOCAL_SIZE"] = "4",
            ["OMPI_MCA_ess_base_jobid"] = "868810753",
            ["HIVEMIND_CLUSTER_KEY"] = Convert.ToBase64String(new byte[32]),
        };
        var one = Place(["--launcher", "mpi"], mpi);
        Assert.Equal((1, 4), (one.Id, one.Drones));
        var registry = HostAddress.ParseEndpoint(one.Registry!, "registry", anyPort: false);
        Assert.True(IPAddress.IsLoopback(registry.Address) && registry.Port is >= 20000 and < 32000, $"rank 1 looks for drone 0 at {registry}");
        mpi["OMPI_COMM_WORLD_RANK"] = "0";
        Assert.Equal(registry.Port, Place(["--launcher", "mpi"], mpi).Listen!.Port);

        mpi["OMPI_COMM_WORLD_LOCAL_SIZE"] = "2";
        var error = Assert.Throws<OptionsException>(() => Place(["--launcher", "mpi"], mpi));
        Assert.Contains("the ranks run on several hosts", error.Message, StringComparison.Ordinal);
        Assert.Contains("give --rendezvous HOST:PORT", error.Message, StringComparison.Ordinal);
        Assert.Equal("127.0.0.1:7999", Place(["--launcher", "mpi", "--rendezvous", "127.0.0.1:7999"], With(mpi, "OMPI_COMM_WORLD_RANK", "2")).Registry);
    }

    [Fact]
    public void Mpi_PmiAndPmixRanks_AreRead_PmixWithTheSizeFromDrones()
    {
        var key = Convert.ToBase64String(new byte[32]);
        var hydra = Place(["--launcher", "mpi", "--rendezvous", "127.0.0.1:7000"], new Dictionary<string, string>
        {
            ["PMI_RANK"] = "2",
            ["PMI_SIZE"] = "3",
            ["HIVEMIND_CLUSTER_KEY"] = key,
        });
        Assert.Equal((2, 3), (hydra.Id, hydra.Drones));
        var pmix = new Dictionary<string, string> { ["PMIX_RANK"] = "1", ["HIVEMIND_CLUSTER_KEY"] = key };
        var error = Assert.Throws<OptionsException>(() => Place(["--launcher", "mpi", "--rendezvous", "127.0.0.1:7000"], pmix));
        Assert.Contains("PMIX_RANK gives this drone's rank but nothing gives the run's size; give --drones N", error.Message, StringComparison.Ordinal);
        var sized = Place(["--launcher", "mpi", "--rendezvous", "127.0.0.1:7000", "--drones", "5"], pmix);
        Assert.Equal((1, 5), (sized.Id, sized.Drones));
    }

    [Theory]
    [InlineData("slurm", "--launcher slurm: SLURM_PROCID is not set; run the program as the tasks of srun")]
    [InlineData("mpi", "--launcher mpi: none of OMPI_COMM_WORLD_RANK, PMI_RANK or PMIX_RANK is set")]
    [InlineData("env", "--launcher env: HIVEMIND_DRONE_ID is not set; the launcher sets HIVEMIND_DRONE_ID (0 .. N-1)")]
    public void ALauncherWhoseVariablesAreMissing_SaysWhatItNeeds(string launcher, string expected)
    {
        var error = Assert.Throws<OptionsException>(() => Place(["--launcher", launcher], new Dictionary<string, string>()));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "SLURM_PROCID=abc", "SLURM_STEP_NUM_TASKS=2" }, "SLURM_PROCID='abc' is not a whole number")]
    [InlineData(new[] { "SLURM_PROCID=2", "SLURM_STEP_NUM_TASKS=2" }, "this drone's rank 2 is not below the run's size 2")]
    [InlineData(new[] { "SLURM_PROCID=0", "SLURM_STEP_NUM_TASKS=2" }, "SLURM_STEP_NODELIST is not set, so drone 0's node is unknown; give --rendezvous HOST:PORT")]
    [InlineData(new[] { "SLURM_PROCID=0", "SLURM_STEP_NUM_TASKS=2", "SLURM_STEP_NODELIST=n[1-" }, "Slurm host list 'n[1-': an unclosed bracket")]
    [InlineData(new[] { "SLURM_PROCID=0", "SLURM_STEP_NUM_TASKS=2", "SLURM_STEP_NODELIST=n1" }, "SLURM_JOB_ID is not set, so no rendezvous port can be derived")]
    public void BadSlurmVariables_AreRefusedNamingTheVariable(string[] variables, string expected)
    {
        var environment = variables.Select(v => v.Split('=', 2)).ToDictionary(v => v[0], v => v[1]);
        environment["HIVEMIND_CLUSTER_KEY"] = Convert.ToBase64String(new byte[32]);
        var error = Assert.Throws<OptionsException>(() => Place(["--launcher", "slurm"], environment));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoSharedKey_IsRefusedSayingHowToShareOne()
    {
        var error = Assert.Throws<OptionsException>(() => Place(["--launcher", "env", "--rendezvous", "127.0.0.1:7000"], new Dictionary<string, string>
        {
            ["HIVEMIND_DRONE_ID"] = "1",
            ["HIVEMIND_DRONES"] = "2",
        }));
        Assert.Contains("the drones need a shared cluster key: give --key-file PATH on a file system every node sees", error.Message, StringComparison.Ordinal);
        Assert.Contains("or export HIVEMIND_CLUSTER_KEY", error.Message, StringComparison.Ordinal);
        var short16 = Assert.Throws<OptionsException>(() => Place(["--launcher", "env", "--rendezvous", "127.0.0.1:7000"], new Dictionary<string, string>
        {
            ["HIVEMIND_DRONE_ID"] = "1",
            ["HIVEMIND_DRONES"] = "2",
            ["HIVEMIND_CLUSTER_KEY"] = "AAAA",
        }));
        Assert.Contains("HIVEMIND_CLUSTER_KEY holds 3 bytes; the key needs at least 16", short16.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyFile_DroneZeroCreatesIt_TheOthersWaitForIt_AndAllHoldTheSameKey()
    {
        var path = Path.Combine(_folder, "run.key");
        var environment = new Dictionary<string, string> { ["HIVEMIND_DRONES"] = "3", ["HIVEMIND_RENDEZVOUS"] = "127.0.0.1:7000" };
        var others = Enumerable.Range(1, 2)
            .Select(k => Task.Run(() => Place(["--launcher", "env", "--key-file", path], With(environment, "HIVEMIND_DRONE_ID", $"{k}")).ClusterKey!))
            .ToArray();
        var zero = Place(["--launcher", "env", "--key-file", path], With(environment, "HIVEMIND_DRONE_ID", "0"));
        var keys = await Task.WhenAll(others).WaitAsync(KeyWait * 2);
        Assert.All(keys, key => Assert.Equal(zero.ClusterKey, key));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Empty(Directory.GetFiles(_folder, "*.tmp"));
    }

    [Fact]
    public void KeyFile_ThatNeverAppears_EndsTheWaitNamingTheSharedFileSystem()
    {
        var path = Path.Combine(_folder, "missing.key");
        var error = Assert.Throws<OptionsException>(() => ClusterKeyFile.WaitAndLoad(path, TimeSpan.FromMilliseconds(200)));
        Assert.Contains($"--key-file {path}: not there after 0 s; drone 0 creates it, so the path must be on a file system every node sees", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--launcher", "slurm", "--config", "x.json" }, "--config: --launcher slurm starts the drones itself")]
    [InlineData(new[] { "--launcher", "mpi", "--join", "127.0.0.1:7400", "--key-file", "k" }, "--join: a drone that joins a running run is started by hand, not by --launcher mpi")]
    [InlineData(new[] { "--launcher", "env", "--listen-port", "7400" }, "--listen-port: under --launcher env drone 0 listens at the rendezvous; give --rendezvous HOST:PORT instead")]
    [InlineData(new[] { "--launcher", "slurm", "--max-drones", "4" }, "--max-drones: drones that join are started by hand")]
    [InlineData(new[] { "--rendezvous", "127.0.0.1:7000" }, "--rendezvous: only for drones a cluster launcher starts")]
    [InlineData(new[] { "--launcher", "pbs" }, "--launcher")]
    [InlineData(new[] { "--advertise-address", "0.0.0.0" }, "--advertise-address: 0.0.0.0 is not one host's address")]
    [InlineData(new[] { "--advertise-address", "224.0.0.1" }, "--advertise-address: 224.0.0.1 is not one host's address (every interface, a multicast group or broadcast)")]
    [InlineData(new[] { "--listen-address", "no-such-host.invalid" }, "--listen-address: host 'no-such-host.invalid' cannot be resolved")]
    [InlineData(new[] { "--launcher", "slurm", "--advertise-address", "10.0.0.5" }, "--advertise-address: under --launcher slurm every drone gets the same command line")]
    [InlineData(new[] { "--launcher", "mpi", "--listen-address", "10.0.0.5" }, "--listen-address 10.0.0.5: under --launcher mpi every drone gets the same command line")]
    public void BadLauncherOptions_AreRefusedNamingTheOption(string[] args, string expected)
    {
        var error = Assert.Throws<OptionsException>(() => Tmk.ParseOptions<DroneOptions>(args));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AlreadyStartedBySrunOrMpirun_IsKnownFromTheEnvironment()
    {
        Assert.Equal(LauncherKind.Slurm, ClusterLaunch.StartedBy(Variables(new Dictionary<string, string> { ["SLURM_STEP_NUM_TASKS"] = "4", ["SLURM_PROCID"] = "1" })));
        Assert.Null(ClusterLaunch.StartedBy(Variables(new Dictionary<string, string> { ["SLURM_STEP_NUM_TASKS"] = "1", ["SLURM_PROCID"] = "0" })));
        Assert.Equal(LauncherKind.Mpi, ClusterLaunch.StartedBy(Variables(new Dictionary<string, string> { ["OMPI_COMM_WORLD_SIZE"] = "2" })));
        Assert.Equal(LauncherKind.Mpi, ClusterLaunch.StartedBy(Variables(new Dictionary<string, string> { ["PMI_SIZE"] = "3" })));

        // Ranks of mpirun inside a Slurm allocation see its daemons' Slurm variables too: they are MPI's.
        Assert.Equal(LauncherKind.Mpi, ClusterLaunch.StartedBy(Variables(new Dictionary<string, string>
        {
            ["OMPI_COMM_WORLD_SIZE"] = "8",
            ["SLURM_STEP_NUM_TASKS"] = "2",
            ["SLURM_PROCID"] = "1",
        })));
        Assert.Null(ClusterLaunch.StartedBy(Variables(new Dictionary<string, string>())));
    }

    [Fact]
    public void OneDroneAlone_NeedsNoKey()
    {
        var alone = Place(["--launcher", "env", "--rendezvous", "127.0.0.1:7000"], new Dictionary<string, string> { ["HIVEMIND_DRONE_ID"] = "0", ["HIVEMIND_DRONES"] = "1" });
        Assert.Equal((0, 1), (alone.Id, alone.Drones));
        Assert.Null(alone.ClusterKey);
    }

    [Fact]
    public void KeyFile_TwoDronesZeroThatRace_BothEndWithTheKeyInTheFile()
    {
        for (var trial = 0; trial < 20; trial++)
        {
            var path = Path.Combine(_folder, $"race{trial}.key");
            using var start = new Barrier(2);
            var keys = new byte[2][];
            var errors = new Exception?[2];
            var racers = Enumerable.Range(0, 2).Select(k => new Thread(() =>
            {
                start.SignalAndWait();
                errors[k] = Record.Exception(() => keys[k] = ClusterKeyFile.LoadOrCreate(path));
            })).ToList();
            racers.ForEach(t => t.Start());
            racers.ForEach(t => Assert.True(t.Join(KeyWait), $"trial {trial}: a racer did not finish"));
            Assert.True(errors.All(e => e is null), $"trial {trial}: a racer failed: {string.Join("; ", errors.Select(e => e?.Message))}");
            var inFile = ClusterKeyFile.Load(path);
            Assert.True(keys[0].SequenceEqual(inFile) && keys[1].SequenceEqual(inFile), $"trial {trial}: the two drones 0 hold different keys, or not the file's");
        }
    }

    /// <summary>
    /// A drone 0 that finds the key file just created and still empty (another drone 0 won the race to create it and is
    /// writing it) waits for its line instead of refusing an empty key: the race CI once caught, as a 0-byte key.
    /// </summary>
    [Fact]
    public void KeyFile_JustCreatedAndEmpty_DroneZeroWaitsForItsLine()
    {
        var path = Path.Combine(_folder, "fresh.key");
        using (File.Create(path))
        {
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var error = Assert.Throws<OptionsException>(() => ClusterKeyFile.LoadOrCreate(path));
        Assert.Contains($"--key-file {path}: holds no whole key line after 5 s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyFile_HalfWritten_IsNotTakenForAKey_TheWholeLineIs()
    {
        // Ten characters of base64 decode to a (wrong) key of their own: a reader must wait for the whole line.
        var path = Path.Combine(_folder, "half.key");
        var line = Convert.ToBase64String(Enumerable.Range(1, 32).Select(b => (byte)b).ToArray());
        File.WriteAllText(path, line[..24]);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var error = Assert.Throws<OptionsException>(() => ClusterKeyFile.WaitAndLoad(path, TimeSpan.FromMilliseconds(200)));
        Assert.Contains($"--key-file {path}: holds no whole key line after 0 s", error.Message, StringComparison.Ordinal);
        File.WriteAllText(path, line + "\n");
        Assert.Equal(Enumerable.Range(1, 32).Select(b => (byte)b).ToArray(), ClusterKeyFile.WaitAndLoad(path, KeyWait));
    }

    [Fact]
    public void KeyFile_ThatIsALink_IsRefused()
    {
        var target = Path.Combine(_folder, "target.key");
        File.WriteAllText(target, Convert.ToBase64String(new byte[32]) + "\n");
        File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var link = Path.Combine(_folder, "link.key");
        File.CreateSymbolicLink(link, target);
        var error = Assert.Throws<OptionsException>(() => ClusterKeyFile.LoadOrCreate(link));
        Assert.Contains($"--key-file {link}: is a symbolic link", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyFile_InAFolderThatIsNotThere_IsRefusedNamingIt()
    {
        var path = Path.Combine(_folder, "no-such-folder", "run.key");
        var error = Assert.Throws<OptionsException>(() => ClusterKeyFile.LoadOrCreate(path));
        Assert.Contains($"--key-file {path}: cannot create it", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ANameWithLoopbackAndNetworkAddresses_ResolvesToTheNetworkOne()
    {
        // Debian's /etc/hosts maps the machine's own name to 127.0.1.1; the other hosts of a run know it by its network address.
        IPAddress[] addresses = [IPAddress.Parse("127.0.1.1"), IPAddress.Parse("fe80::1"), IPAddress.Parse("2001:db8::5"), IPAddress.Parse("10.1.2.3")];
        Assert.Equal(IPAddress.Parse("10.1.2.3"), HostAddress.Preferred(addresses));
        Assert.Equal(IPAddress.Parse("2001:db8::5"), HostAddress.Preferred([IPAddress.Parse("127.0.1.1"), IPAddress.Parse("2001:db8::5")]));
        Assert.Equal(IPAddress.Loopback, HostAddress.Preferred([IPAddress.IPv6Loopback, IPAddress.Loopback]));
    }

    [Fact]
    public void DroneZero_WhoseRendezvousPortIsTaken_SaysSoAndWhatToGive()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var placement = new DronePlacement(0, 2) { ClusterKey = new byte[32], Listen = new IPEndPoint(IPAddress.Loopback, port), RegistryFromLauncher = true };
        var error = Assert.Throws<OptionsException>(() => Drone.Join(new DroneOptions { HeapSize = "1MiB", Quiet = true }, placement));
        Assert.Contains($"drone 0 cannot listen at the rendezvous 127.0.0.1:{port} (AddressAlreadyInUse", error.Message, StringComparison.Ordinal);
        Assert.Contains("give --rendezvous HOST:PORT", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static DronePlacement Place(string[] args, IReadOnlyDictionary<string, string> environment) =>
        ClusterLaunch.Place(Tmk.ParseOptions<DroneOptions>(args), Variables(environment), KeyWait);

    private static Dictionary<string, string> SlurmStep(string job, string step, int task, byte[] key) => new()
    {
        ["SLURM_PROCID"] = $"{task}",
        ["SLURM_STEP_NUM_TASKS"] = "4",
        ["SLURM_STEP_NODELIST"] = "localhost",
        ["SLURMD_NODENAME"] = "localhost",
        ["SLURM_JOB_ID"] = job,
        ["SLURM_STEP_ID"] = step,
        ["HIVEMIND_CLUSTER_KEY"] = Convert.ToBase64String(key),
    };

    private static Dictionary<string, string> With(IReadOnlyDictionary<string, string> environment, string name, string value) =>
        new(environment) { [name] = value };

    private static Func<string, string?> Variables(IReadOnlyDictionary<string, string> environment) =>
        name => environment.TryGetValue(name, out var value) ? value : null;
}
