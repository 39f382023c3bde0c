namespace HiveMind.Launch;

/// <summary>Drone 0 could not start another drone; the message names the drone, the host and the cause.</summary>
public sealed class LaunchException : Exception
{
    public LaunchException()
    {
    }

    public LaunchException(string message)
        : base(message)
    {
    }

    public LaunchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
