using System.Runtime.InteropServices;

namespace HiveMind.Net.Transport;

/// <summary>
/// Scheduling for the mesh's own threads (receive, send, heartbeat, accept): on Linux they take a lower nice value than
/// the process's threads, so that serving other drones and the failure detector run as soon as a frame or a beat is
/// due, not after the application's threads on a machine whose cores they keep busy. Lowering a nice value needs
/// CAP_SYS_NICE (root with its capabilities, or a raised RLIMIT_NICE); without it the threads keep the process's.
/// </summary>
/// <remarks>
/// The nice value is set with sched_setattr and SCHED_RESET_ON_FORK: threads that a mesh thread starts (the runtime's
/// thread-pool workers and timers, started by whichever thread first needs them) begin at the default again, so the
/// program's own work never runs at the mesh's priority.
/// </remarks>
internal static unsafe partial class NetworkThreads
{
    private const uint SchedOther = 0;
    private const ulong SchedFlagResetOnFork = 0x01;

    /// <summary>
    /// Gives the calling thread <paramref name="nice"/> (0 leaves it). Returns 0 when done or not asked for, the errno
    /// when the system refused it (EPERM without the privilege), and -1 where it cannot be done (not Linux, an
    /// architecture whose system call number is not known here, no such call).
    /// </summary>
    public static int Prioritize(int nice)
    {
        if (nice == 0)
        {
            return 0;
        }

        long number = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 314,
            Architecture.Arm64 => 274,
            _ => -1,
        };
        if (!OperatingSystem.IsLinux() || number < 0)
        {
            return -1;
        }

        // Thread 0 is the calling thread: the attributes are this thread's alone.
        var attributes = new SchedAttr { Size = (uint)sizeof(SchedAttr), Policy = SchedOther, Flags = SchedFlagResetOnFork, Nice = nice };
        try
        {
            return SetAttributes(number, 0, &attributes, 0) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
        catch (Exception error) when (error is EntryPointNotFoundException or DllNotFoundException)
        {
            return -1;
        }
    }

    // syscall(2) with sched_setattr's arguments: the kernel's own entry, whatever the C library wraps.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long SetAttributes(long number, int thread, SchedAttr* attributes, uint flags);

    /// <summary>struct sched_attr, its first version (48 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SchedAttr
    {
        public uint Size;
        public uint Policy;
        public ulong Flags;
        public int Nice;
        public uint Priority;
        public ulong Runtime;
        public ulong Deadline;
        public ulong Period;
    }
}
