using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;
using MessagePack;

// This file is where the library's length-trusting reads are called, each behind the checks below.
#pragma warning disable RS0030

namespace HiveMind.Net.Codec;

/// <summary>
/// The reads of MessagePack-CSharp's <see cref="MessagePackReader"/> that input from the network needs beyond the
/// library's own: a bin or a str only where one is expected (the library also takes nil, and a str for a bin), str
/// checked to be UTF-8, and a skip that refuses ext types and nesting beyond a limit.
/// </summary>
/// <remarks>
/// What these add matters for hostile input: the library's <c>ReadBytes</c>, <c>ReadString</c> and <c>Skip</c> throw
/// <see cref="ArgumentOutOfRangeException"/> for a 32-bit length of 2 GiB or more, and its <c>Skip</c> takes an
/// array 32 of 2^32-1 elements for an empty one. Here every failure is one that <see cref="MalformedInput.Is"/>
/// knows: <see cref="MessagePackSerializationException"/> for a value of another type, <see cref="EndOfStreamException"/>
/// for a length or count beyond the input (checked before anything is allocated for it). HiveMind's code reads
/// the network through these and the library's typed reads (integers, Booleans, headers), never through the
/// length-trusting ones (the build bans them outside this file: BannedSymbols.txt).
/// </remarks>
internal static class MessagePackReading
{
    /// <summary>Nesting that <see cref="SkipValue"/> allows by default; HiveMind frames are far shallower.</summary>
    public const int DefaultMaxDepth = 64;

    /// <summary>Bytes of input not read yet.</summary>
    public static long Remaining(this in MessagePackReader reader) => reader.Sequence.Length - reader.Consumed;

    /// <summary>
    /// Reads a bin as a slice of the reader's input, not a copy (a copy only when the input is a sequence of several
    /// segments, which HiveMind never makes); any other value, nil included, throws.
    /// </summary>
    public static ReadOnlyMemory<byte> ReadBinary(this ref MessagePackReader reader)
    {
        var offset = reader.Consumed;
        var code = reader.NextCode;
        if (code is not (MessagePackCode.Bin8 or MessagePackCode.Bin16 or MessagePackCode.Bin32))
        {
            throw Unexpected("a bin", offset, code);
        }

        // The library's Skip checks the length against the bytes left, as ReadBytes does, without slicing a sequence
        // and wrapping it in a Nullable: the payload is then sliced from the input's memory here (diffs are read so).
        try
        {
            reader.Skip();
        }
        catch (ArgumentOutOfRangeException error)
        {
            throw TooLong(reader, offset, code, error);
        }

        var header = code switch
        {
            MessagePackCode.Bin8 => 2,
            MessagePackCode.Bin16 => 3,
            _ => 5,
        };
        var length = reader.Consumed - offset - header;
        var input = reader.Sequence;
        return input.IsSingleSegment
            ? input.First.Slice((int)offset + header, (int)length)
            : input.Slice(offset + header, length).ToArray();
    }

    /// <summary>Reads a str as its UTF-8 bytes, a slice of the input (not checked for valid UTF-8); any other value throws.</summary>
    public static ReadOnlyMemory<byte> ReadStringUtf8(this ref MessagePackReader reader)
    {
        var offset = reader.Consumed;
        var code = reader.NextCode;
        if (code is not ((>= MessagePackCode.MinFixStr and <= MessagePackCode.MaxFixStr) or MessagePackCode.Str8 or MessagePackCode.Str16 or MessagePackCode.Str32))
        {
            throw Unexpected("a str", offset, code);
        }

        ReadOnlySequence<byte> bytes;
        try
        {
            bytes = reader.ReadStringSequence().GetValueOrDefault();
        }
        catch (ArgumentOutOfRangeException error)
        {
            throw TooLong(reader, offset, code, error);
        }

        return bytes.IsSingleSegment ? bytes.First : bytes.ToArray();
    }

    /// <summary>Reads a str into a string; nil, any other value and invalid UTF-8 (which the library would turn into U+FFFD) throw.</summary>
    public static string ReadText(this ref MessagePackReader reader)
    {
        var offset = reader.Consumed;
        var utf8 = reader.ReadStringUtf8().Span;
        if (!Utf8.IsValid(utf8))
        {
            throw new MessagePackSerializationException($"Expected UTF-8 text in the str at offset {offset} but found invalid UTF-8.");
        }

        return Encoding.UTF8.GetString(utf8);
    }

    /// <summary>
    /// Skips the next value, arrays and maps included, nested at most <paramref name="maxDepth"/> deep; ext types and
    /// the never-used code 0xC1 throw.
    /// </summary>
    public static void SkipValue(this ref MessagePackReader reader, int maxDepth = DefaultMaxDepth)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDepth);
        Skip(ref reader, maxDepth, 0);
    }

    private static void Skip(ref MessagePackReader reader, int maxDepth, int depth)
    {
        var offset = reader.Consumed;
        var code = reader.NextCode;
        switch (MessagePackCode.ToMessagePackType(code))
        {
            case MessagePackType.Array:
                CheckDepth(maxDepth, depth, offset, code);
                for (var count = reader.ReadArrayHeader(); count > 0; count--)
                {
                    Skip(ref reader, maxDepth, depth + 1);
                }

                break;
            case MessagePackType.Map:
                CheckDepth(maxDepth, depth, offset, code);
                for (var count = 2L * reader.ReadMapHeader(); count > 0; count--)
                {
                    Skip(ref reader, maxDepth, depth + 1);
                }

                break;
            case MessagePackType.Integer or MessagePackType.Nil or MessagePackType.Boolean or MessagePackType.Float
                or MessagePackType.String or MessagePackType.Binary:
                try
                {
                    reader.Skip();
                }
                catch (ArgumentOutOfRangeException error)
                {
                    throw TooLong(reader, offset, code, error);
                }

                break;
            default:
                throw Unexpected("a value", offset, code);
        }
    }

    private static void CheckDepth(int maxDepth, int depth, long offset, byte code)
    {
        if (depth >= maxDepth)
        {
            throw new MessagePackSerializationException(
                $"Expected at most {maxDepth} nested array or map level(s) but found 0x{code:X2} ({MessagePackCode.ToFormatName(code)}) at offset {offset} at depth {maxDepth + 1}.");
        }

        // A caller's large maxDepth on a thread with a small stack fails here instead of overflowing the stack.
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            throw new MessagePackSerializationException(
                $"Expected nesting that fits the thread's stack but found 0x{code:X2} ({MessagePackCode.ToFormatName(code)}) at offset {offset} at depth {depth + 1}.");
        }
    }

    private static MessagePackSerializationException Unexpected(string expected, long offset, byte code)
    {
        var note = code switch
        {
            MessagePackCode.NeverUsed => "; the specification reserves 0xC1 and never uses it",
            _ when MessagePackCode.ToMessagePackType(code) == MessagePackType.Extension => "; HiveMind uses no ext types",
            _ => string.Empty,
        };
        return new MessagePackSerializationException($"Expected {expected} at offset {offset} but found 0x{code:X2} ({MessagePackCode.ToFormatName(code)}){note}.");
    }

    // Only a 32-bit length of 2 GiB or more gets here (the library reads it as a negative int): far beyond any input.
    private static EndOfStreamException TooLong(in MessagePackReader reader, long offset, byte code, Exception error) =>
        new($"Expected a length that fits the input for 0x{code:X2} ({MessagePackCode.ToFormatName(code)}) at offset {offset} "
            + $"but found one of 2 GiB or more, with {reader.Sequence.Length - offset} byte(s) left.", error);
}
