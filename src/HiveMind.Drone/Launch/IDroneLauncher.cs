namespace HiveMind.Launch;

/// <summary>How drone 0 started the other drones of its run; disposing it leaves none of them running.</summary>
internal interface IDroneLauncher : IDisposable
{
    /// <summary>Ids of the local processes started (the drones, or the ssh clients that run them).</summary>
    IReadOnlyList<int> ProcessIds { get; }

    /// <summary>Waits up to <paramref name="timeout"/> for every started process to exit, then kills the rest.</summary>
    void WaitOrKill(TimeSpan timeout);

    /// <summary>Ends the processes of a drone the run removed as failed (its ssh client, say), so none lingers.</summary>
    void Abandon(int drone);

    /// <summary>The first drone whose process has ended, with how; null while all run. Drone 0 checks it while the run forms.</summary>
    DroneExit? FirstExited();

    /// <summary>How drone <paramref name="drone"/>'s process ended, waiting up to <paramref name="wait"/> for it; null if it was not started here.</summary>
    DroneExit? ExitOf(int drone, TimeSpan wait);
}
