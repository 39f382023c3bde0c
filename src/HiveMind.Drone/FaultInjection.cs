using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HiveMind;

/// <summary>
/// Named fault points that tests enable, one at a time, through the <c>HIVEMIND_FAULT</c> environment variable of a
/// run (never set otherwise). Each names the drone it applies to:
/// <list type="bullet">
/// <item><c>exit-at-start:DRONE:CODE</c>: the drone exits with CODE before it connects to drone 0.</item>
/// <item><c>unreachable:DRONE</c>: the drone is given an address of drone 0 where nothing listens.</item>
/// <item><c>exit-at-start-barrier:DRONE:CODE</c>: the drone exits with CODE once linked to every drone, before the start barrier.</item>
/// <item><c>stall:POINT:DRONE:NTH</c>: the drone stops for good (its thread blocks) the NTH time it reaches the engine's
/// point POINT (<c>serve-diff</c>: while making a diff reply; <c>collect</c>: between the two barriers of a garbage
/// collection), after saying so on its error output, so that a test can kill or stop it there.</item>
/// </list>
/// </summary>
internal static class FaultInjection
{
    public const string Variable = "HIVEMIND_FAULT";

    private static readonly string[] Parts = (Environment.GetEnvironmentVariable(Variable) ?? string.Empty).Split(':');

    /// <summary>In a drone started by drone 0: applies the start faults meant for <paramref name="drone"/>; may end the process, or change the registry.</summary>
    public static string AtStart(int drone, string registry)
    {
        if (Parts is ["exit-at-start", var d, var code] && Is(d, drone) && int.TryParse(code, CultureInfo.InvariantCulture, out var exitCode))
        {
            Console.Error.WriteLine($"fault injected: drone {drone} exits at start with code {exitCode}");
            throw new InjectedExitException(exitCode);
        }

        if (Parts is ["unreachable", var u] && Is(u, drone))
        {
            // A port that was free a moment ago: nothing listens there.
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return $"127.0.0.1:{((IPEndPoint)probe.LocalEndPoint!).Port}";
        }

        return registry;
    }

    /// <summary>In any drone, once the mesh has formed: applies the fault meant for <paramref name="drone"/> before the start barrier.</summary>
    public static void BeforeStartBarrier(int drone)
    {
        if (Parts is ["exit-at-start-barrier", var d, var code] && Is(d, drone) && int.TryParse(code, CultureInfo.InvariantCulture, out var exitCode))
        {
            Console.Error.WriteLine($"fault injected: drone {drone} exits before the start barrier with code {exitCode}");
            throw new InjectedExitException(exitCode);
        }
    }

    /// <summary>The engine's fault hook for <paramref name="drone"/>, or null when no stall is asked of it.</summary>
    public static Action<string>? StallFor(int drone)
    {
        if (Parts is not ["stall", var point, var d, var nth] || !Is(d, drone) || !int.TryParse(nth, CultureInfo.InvariantCulture, out var left) || left < 1)
        {
            return null;
        }

        return reached =>
        {
            if (reached == point && Interlocked.Decrement(ref left) == 0)
            {
                Console.Error.WriteLine($"STALLED at {point} on drone {drone} pid={Environment.ProcessId}");
                Console.Error.Flush();
                Thread.Sleep(Timeout.Infinite);
            }
        };
    }

    private static bool Is(string text, int drone) => int.TryParse(text, CultureInfo.InvariantCulture, out var d) && d == drone;
}

/// <summary>
/// A fault point that ends the drone's program with an exit code (as a process that exits there would):
/// <see cref="Tmk.Run{TOptions}"/> returns the code, so the program's process ends with it, and HiveMind never ends it itself.
/// </summary>
internal sealed class InjectedExitException(int exitCode) : Exception($"fault injected: exit with code {exitCode}")
{
    public int ExitCode { get; } = exitCode;
}
