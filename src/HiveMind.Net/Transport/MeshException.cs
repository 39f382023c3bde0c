namespace HiveMind.Net.Transport;

/// <summary>A mesh operation failed: a link closed under a request, a reply did not come in time, a connect gave up.</summary>
public sealed class MeshException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public MeshException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public MeshException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and the exception that caused it.</summary>
    public MeshException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
