namespace HiveMind.Benchmarks.HandwrittenCodec;

/// <summary>Thrown when MessagePack input is malformed, truncated, hostile, or holds another type than the one asked for.</summary>
public sealed class MessagePackFormatException : FormatException
{
    public MessagePackFormatException()
    {
    }

    public MessagePackFormatException(string message)
        : base(message)
    {
    }

    public MessagePackFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public MessagePackFormatException(string message, int offset)
        : base(message) => Offset = offset;

    /// <summary>Offset in the input of the value that failed to decode, or -1 when unknown.</summary>
    public int Offset { get; } = -1;
}
