namespace HiveMind.Allocation;

/// <summary>Malloc found no free block of the shared heap that holds the request.</summary>
public sealed class SharedHeapExhaustedException : InvalidOperationException
{
    /// <summary>Creates the exception with a default message.</summary>
    public SharedHeapExhaustedException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public SharedHeapExhaustedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and the exception that caused it.</summary>
    public SharedHeapExhaustedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
