namespace HiveMind;

/// <summary>An access named a global address (or range) that the shared heap does not hold.</summary>
public sealed class SharedAddressException : ArgumentException
{
    public SharedAddressException()
    {
    }

    public SharedAddressException(string message)
        : base(message)
    {
    }

    public SharedAddressException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
