namespace HiveMind.Net.Transport;

/// <summary>A mesh operation failed: a link closed under a request, a reply did not come in time, a connect gave up.</summary>
public sealed class MeshException : Exception
{
    public MeshException()
    {
    }

    public MeshException(string message)
        : base(message)
    {
    }

    public MeshException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
