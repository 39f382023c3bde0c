namespace HiveMind.Launch;

/// <summary>What starts the drones of a run (<c>--launcher</c>).</summary>
public enum LauncherKind
{
    /// <summary>Drone 0 starts the others: as processes on this machine, or over ssh on the hosts of <c>--config</c>.</summary>
    Local,

    /// <summary>Every drone is a task of one <c>srun</c> step: its place from <c>SLURM_PROCID</c> and <c>SLURM_NTASKS</c>.</summary>
    Slurm,

    /// <summary>Every drone is a rank of <c>mpirun</c>/<c>mpiexec</c>: Open MPI's, MPICH's (PMI) or PMIx's rank variables.</summary>
    Mpi,

    /// <summary>Every drone is started by something else that sets <c>HIVEMIND_DRONE_ID</c>, <c>HIVEMIND_DRONES</c> and <c>HIVEMIND_RENDEZVOUS</c>.</summary>
    Env,
}
