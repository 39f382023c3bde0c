using System.Diagnostics;
using System.Globalization;

namespace HiveMind.EndToEnd.Tests;

/// <summary>
/// A real one-node Slurm cluster for a test, from Debian's slurm-wlm and munge: its own munged (own key and socket), a
/// slurmctld and a slurmd for node "localhost" with 4 CPUs, all inside a network namespace of its own whose loopback is
/// all they and the jobs reach. <see cref="Srun"/> runs a job step on it. Dispose stops every daemon and job.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SlurmCluster : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly NetworkNamespaces _host = new(1);
    private readonly List<LiveProcess> _daemons = [];
    private readonly string _config;

    public SlurmCluster()
    {
        Folder = Directory.CreateTempSubdirectory("hivemind-slurm-").FullName;
        try
        {
            var munge = Path.Combine(Folder, "munge");
            Directory.CreateDirectory(munge, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var key = Path.Combine(munge, "munge.key");
            File.WriteAllBytes(key, System.Security.Cryptography.RandomNumberGenerator.GetBytes(128));
            File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var socket = Path.Combine(munge, "socket");
            Start(
                "/usr/sbin/munged", "--foreground", "--force", $"--key-file={key}", $"--socket={socket}", $"--pid-file={munge}/pid",
                $"--log-file={munge}/log", $"--seed-file={munge}/seed");
            WaitFor(() => File.Exists(socket), "munged did not create its socket");

            foreach (var folder in new[] { "state", "spool", "log" })
            {
                Directory.CreateDirectory(Path.Combine(Folder, folder));
            }

            _config = Path.Combine(Folder, "slurm.conf");
            File.WriteAllText(_config, string.Join('\n',
                "ClusterName=hivemindtest",
                "SlurmctldHost=localhost(127.0.0.1)",
                "SlurmctldPort=6817",
                "SlurmdPort=6818",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                $"AuthInfo=socket={socket}",
                $"StateSaveLocation={Folder}/state",
                $"SlurmdSpoolDir={Folder}/spool",
                $"SlurmctldPidFile={Folder}/slurmctld.pid",
                $"SlurmdPidFile={Folder}/slurmd.pid",
                $"SlurmctldLogFile={Folder}/log/slurmctld.log",
                $"SlurmdLogFile={Folder}/log/slurmd.log",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "MpiDefault=none",
                "ReturnToService=2",
                "SchedulerType=sched/builtin",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "SlurmdParameters=config_overrides",
                "JobCompType=jobcomp/none",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "NodeName=localhost NodeAddr=127.0.0.1 CPUs=4 Sockets=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN",
                "PartitionName=hm Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES",
                string.Empty));
            Start("/usr/sbin/slurmctld", "-D", "-f", _config);
            Start("/usr/sbin/slurmd", "-D", "-f", _config, "-N", "localhost");
            WaitFor(() => Command("/usr/bin/sinfo", "-h", "-n", "localhost", "-o", "%t").Output.Trim() == "idle", "node localhost did not come up idle");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The cluster's own folder (configuration, state, logs); a file system every task sees.</summary>
    public string Folder { get; }

    /// <summary>The network namespace the cluster and its jobs run in.</summary>
    public string Namespace => _host.Name(0);

    /// <summary>What the daemons logged so far, for failure messages.</summary>
    public string Logs => string.Join('\n', _daemons.Select(d => $"--- {d.Command}{(d.HasExited ? " (exited)" : string.Empty)}:\n{d.Output}"))
        + string.Concat(Directory.GetFiles(Path.Combine(Folder, "log")).Select(f => $"\n--- {Path.GetFileName(f)}:\n{string.Join('\n', File.ReadLines(f).TakeLast(30))}"));

    /// <summary>Runs <c>srun</c> with <paramref name="args"/> on the cluster; returns its exit code and output once it ends.</summary>
    public (int ExitCode, string Output) Srun(TimeSpan timeout, params string[] args) => Command("/usr/bin/srun", timeout, args);

    /// <summary>Runs <c>sbatch --wait</c> with <paramref name="args"/>; returns its exit code and output (the batch script's goes to its --output file).</summary>
    public (int ExitCode, string Output) SbatchWait(TimeSpan timeout, params string[] args) => Command("/usr/bin/sbatch", timeout, ["--wait", .. args]);

    public void Dispose()
    {
        foreach (var daemon in Enumerable.Reverse(_daemons))
        {
            daemon.Dispose();
        }

        _host.Dispose();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // A job's file still held open: the folder is under /tmp.
        }
    }

    private (int ExitCode, string Output) Command(string program, params string[] args) => Command(program, TimeSpan.FromSeconds(20), args);

    private (int ExitCode, string Output) Command(string program, TimeSpan timeout, string[] args) =>
        ToolProcess.Run(Namespace, program, new Dictionary<string, string> { ["SLURM_CONF"] = _config }, timeout, () => $"Slurm's logs:\n{Logs}", args);

    // A daemon in the foreground, in the cluster's namespace; disposing it kills it and whatever it started.
    private void Start(string program, params string[] args) =>
        _daemons.Add(new LiveProcess(ToolProcess.StartInfo(Namespace, program, args), Path.GetFileName(program)));

    private void WaitFor(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > StartTimeout || _daemons.Any(d => d.HasExited))
            {
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Slurm test cluster: {what} within {StartTimeout.TotalSeconds} s; logs:\n{Logs}"));
            }

            Thread.Sleep(100); // polling a daemon's state: nothing announces it
        }
    }
}
