using MessagePack;

namespace HiveMind.Net.Codec;

/// <summary>
/// What decoding bytes from the network throws when they are malformed, truncated or hostile: one place that
/// every receive path asks, so that a bad frame is a protocol error (the link closes, the peer is refused, with a
/// logged reason) and never a crash.
/// </summary>
/// <remarks>
/// MessagePack-CSharp 2.5 throws <see cref="MessagePackSerializationException"/> for a value of another type than
/// the one read (and <see cref="MessagePackReading"/> for what it checks on top), <see cref="EndOfStreamException"/>
/// for a value cut short or a length or count beyond the input, and <see cref="OverflowException"/> for an integer
/// that does not fit the type read. HiveMind's own decoders throw <see cref="InvalidDataException"/> for a
/// well-formed value that breaks the protocol. Anything else is a bug, not bad input.
/// </remarks>
internal static class MalformedInput
{
    /// <summary>True when <paramref name="error"/> says the input was bad, not that the code reading it failed.</summary>
    public static bool Is(Exception error) =>
        error is InvalidDataException or MessagePackSerializationException or EndOfStreamException or OverflowException;

    /// <summary>
    /// <paramref name="error"/> as the <see cref="InvalidDataException"/> that HiveMind's decoders document, naming
    /// <paramref name="what"/> was read; an <see cref="InvalidDataException"/> already is one and comes back as it is.
    /// </summary>
    public static InvalidDataException Wrap(Exception error, string what)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error as InvalidDataException ?? new InvalidDataException($"malformed {what}: {Describe(error)}", error);
    }

    /// <summary>
    /// As <see cref="Wrap(Exception, string)"/>, saying where in the <paramref name="length"/> bytes of its input the
    /// reader stopped (<paramref name="offset"/>, the bytes it had consumed): for a count or length beyond the input,
    /// the end of its header.
    /// </summary>
    public static InvalidDataException Wrap(Exception error, string what, long offset, long length)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error as InvalidDataException
            ?? new InvalidDataException($"malformed {what} (the reader stopped at byte {offset} of {length}): {Describe(error)}", error);
    }

    /// <summary>A one-line reason for a log or a refusal: the message, and which library exception it was when it is terse.</summary>
    public static string Describe(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error switch
        {
            InvalidDataException or MessagePackSerializationException => error.Message,
            EndOfStreamException when error.InnerException is null && error.Message == new EndOfStreamException().Message => "the input ends inside a value, or a length or count reaches past its end",
            OverflowException => $"an integer does not fit the type read ({error.Message})",
            _ => $"{error.GetType().Name}: {error.Message}",
        };
    }
}
