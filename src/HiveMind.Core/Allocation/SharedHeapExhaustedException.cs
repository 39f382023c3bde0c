namespace HiveMind.Allocation;

/// <summary>Malloc found no free block of the shared heap that holds the request.</summary>
public sealed class SharedHeapExhaustedException : InvalidOperationException
{
    public SharedHeapExhaustedException()
    {
    }

    public SharedHeapExhaustedException(string message)
        : base(message)
    {
    }

    public SharedHeapExhaustedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
