using System.Runtime.InteropServices;

namespace HiveMind.Net.Transport;

/// <summary>
/// Scheduling for the mesh's own threads (receive, send, heartbeat, accept): on Linux they take a lower nice value than
/// the process's threads, so that serving other drones and the failure detector run as soon as a frame or a beat is
/// due, not after the application's threads on a machine whose cores they keep busy. Lowering a nice value needs
/// CAP_SYS_NICE (root, or a raised RLIMIT_NICE); without it the threads keep the process's.
/// </summary>
internal static partial class NetworkThreads
{
    private const int PrioProcess = 0;

    /// <summary>
    /// Gives the calling thread <paramref name="nice"/> (0 leaves it). Returns the errno when the system refused it
    /// (EPERM without the privilege), 0 when done or not asked for, and -1 where threads have no nice value of their own.
    /// </summary>
    public static int Prioritize(int nice)
    {
        if (nice == 0)
        {
            return 0;
        }

        if (!OperatingSystem.IsLinux())
        {
            return -1;
        }

        // On Linux a thread's nice value is its own: setpriority on its thread id changes that thread alone.
        var tid = (uint)GetThreadId();
        return SetPriority(PrioProcess, tid, nice) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetThreadId();

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, uint who, int prio);
}
