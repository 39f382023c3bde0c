namespace HiveMind.Launch;

/// <summary>
/// In a drone that drone 0 started, for a program that lets HiveMind end its process
/// (<see cref="DroneOptions.EndProcess"/>): a background thread that waits for a sign of drone 0's end (its process
/// exiting, its ssh session closing) and then ends this process at once, whatever the drone is doing (even still
/// connecting), so that a killed drone 0 leaves no orphans. Without it, the drone learns of drone 0's end from its link.
/// </summary>
internal static class DroneZeroWatch
{
    /// <summary>Exit code of a drone whose drone 0 is gone.</summary>
    public const int DroneZeroGone = 3;

    public static void Start(string name, Action waitForEnd, string message, Action<int> endProcess)
    {
        var watcher = new Thread(() =>
        {
            waitForEnd();
            try
            {
                Console.Error.WriteLine(message);
            }
            catch (IOException)
            {
                // Our output went to drone 0 (or through its session), which is gone with it.
            }

            try
            {
                endProcess(DroneZeroGone);
            }
            catch (Exception error) when (error is not OutOfMemoryException)
            {
                // The program's own way to end failed: nothing more to do here than say so.
                Console.Error.WriteLine($"{message} (ending the process failed: {error.Message})");
            }
        })
        { IsBackground = true, Name = name };
        watcher.Start();
    }
}
