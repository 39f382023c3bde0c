namespace HiveMind.Launch;

/// <summary>Drone 0 could not start another drone; the message names the drone, the host and the cause.</summary>
public sealed class LaunchException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public LaunchException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public LaunchException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and the exception that caused it.</summary>
    public LaunchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
