namespace HiveMind;

/// <summary>An access named a global address (or range) that the shared heap does not hold.</summary>
public sealed class SharedAddressException : ArgumentException
{
    /// <summary>Creates the exception with a default message.</summary>
    public SharedAddressException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public SharedAddressException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and the exception that caused it.</summary>
    public SharedAddressException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
