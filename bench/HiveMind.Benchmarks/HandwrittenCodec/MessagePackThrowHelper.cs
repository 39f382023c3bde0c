using System.Diagnostics.CodeAnalysis;

namespace HiveMind.Benchmarks.HandwrittenCodec;

/// <summary>Builds the codec's error messages out of line, so the read and write paths that call these stay small.</summary>
internal static class MessagePackThrowHelper
{
    [DoesNotReturn]
    public static void EndOfInput(string expected, int offset) =>
        throw new MessagePackFormatException(
            $"Expected {expected} at offset {offset} but found the end of the input.", offset);

    [DoesNotReturn]
    public static void UnexpectedCode(string expected, int offset, byte code) =>
        throw new MessagePackFormatException(
            $"Expected {expected} at offset {offset} but found 0x{code:X2} ({MessagePackCode.Describe(code)}){Note(code)}.",
            offset);

    [DoesNotReturn]
    public static T UnexpectedCode<T>(string expected, int offset, byte code)
    {
        UnexpectedCode(expected, offset, code);
        return default;
    }

    [DoesNotReturn]
    public static void Truncated(string part, ulong size, int partOffset, int remaining, int offset, byte code) =>
        throw new MessagePackFormatException(
            $"Expected {size} byte(s) of {part} at offset {partOffset} for 0x{code:X2} ({MessagePackCode.Describe(code)}) "
            + $"at offset {offset} but only {remaining} byte(s) remain.",
            offset);

    [DoesNotReturn]
    public static void CountExceedsInput(uint count, string unit, int bytesEach, int remaining, int offset, byte code) =>
        throw new MessagePackFormatException(
            $"Expected at most {remaining / bytesEach} {unit}(s) for 0x{code:X2} ({MessagePackCode.Describe(code)}) at offset {offset}, "
            + $"as {remaining} byte(s) remain and each takes {bytesEach} at least, but its header claims {count}.",
            offset);

    [DoesNotReturn]
    public static void IntegerOverflow(string expected, int offset, byte code, Int128 value) =>
        throw new MessagePackFormatException(
            $"Expected {expected} at offset {offset} but found 0x{code:X2} ({MessagePackCode.Describe(code)}) "
            + $"holding {value}, which does not fit.",
            offset);

    [DoesNotReturn]
    public static void InvalidUtf8(int offset, byte code) =>
        throw new MessagePackFormatException(
            $"Expected UTF-8 text in 0x{code:X2} ({MessagePackCode.Describe(code)}) at offset {offset} but found invalid UTF-8.",
            offset);

    [DoesNotReturn]
    public static void TooDeep(int maxDepth, int offset, byte code) =>
        throw new MessagePackFormatException(
            $"Expected at most {maxDepth} nested array or map level(s) but found 0x{code:X2} ({MessagePackCode.Describe(code)}) "
            + $"at offset {offset} at depth {maxDepth + 1}.",
            offset);

    [DoesNotReturn]
    public static void TooDeepForStack(int depth, int offset, byte code) =>
        throw new MessagePackFormatException(
            $"Expected nesting that fits the thread's stack but found 0x{code:X2} ({MessagePackCode.Describe(code)}) "
            + $"at offset {offset} at depth {depth + 1}.",
            offset);

    [DoesNotReturn]
    public static void ShortSpan(int size, int length) =>
        throw new InvalidOperationException(
            $"The output returned a span of {length} byte(s) when asked for at least {size}.");

    private static string Note(byte code) => code switch
    {
        MessagePackCode.NeverUsed => "; the specification reserves 0xC1 and never uses it",
        _ when MessagePackCode.IsExt(code) => "; HiveMind uses no ext types",
        _ => string.Empty,
    };
}
