namespace HiveMind;

/// <summary>The exit codes of a drone program run by <see cref="Tmk.Run{TOptions}"/> (the README lists them).</summary>
public static class DroneExitCodes
{
    /// <summary>The program ran and returned 0.</summary>
    public const int Success = 0;

    /// <summary>The program failed: it returned 1, or threw an exception of its own.</summary>
    public const int ProgramFailed = 1;

    /// <summary>The command line or the cluster file is unusable (the message names the option).</summary>
    public const int BadOptions = 2;

    /// <summary>Drone 0, the barrier manager, failed or left: the other drones cannot go on.</summary>
    public const int DroneZeroGone = 3;

    /// <summary>This drone was removed from the run (taken for failed, or cut off).</summary>
    public const int Removed = 4;

    /// <summary>The run could not start or be joined: a drone could not start, exited, or could not reach drone 0.</summary>
    public const int CannotStart = 5;

    /// <summary>A drone failed and the program does not recover from failures: the run stops on every drone.</summary>
    public const int DroneFailed = 6;
}
