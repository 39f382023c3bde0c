using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;

namespace HiveMind.Benchmarks.HandwrittenCodec;

// The codec HiveMind.Net carried before it took MessagePack-CSharp, unchanged but for its namespace: CodecBenchmarks
// measures it as the baseline of the library in the same run. Nothing outside bench/ uses it.

/// <summary>Reads MessagePack values from a span, checking every length against the bytes that remain.</summary>
/// <remarks>
/// Errors throw <see cref="MessagePackFormatException"/> and leave the position at the value that failed. Pass the
/// reader by <see langword="ref"/>: a copy advances on its own.
/// </remarks>
public ref struct MessagePackReader
{
    /// <summary>Nesting that <see cref="Skip()"/> allows; HiveMind frames are far shallower.</summary>
    public const int DefaultMaxDepth = 64;

    // Names of the parts that a truncated value may lack, for error messages; fixed so reading allocates nothing.
    private static readonly string[] StrLabels = ["str 8 length", "str 16 length", "str 32 length", "str payload"];
    private static readonly string[] BinLabels = ["bin 8 length", "bin 16 length", "bin 32 length", "bin payload"];
    private static readonly string[] ArrayLabels = ["array 16 count", "array 32 count"];
    private static readonly string[] MapLabels = ["map 16 count", "map 32 count"];

    private readonly ReadOnlySpan<byte> _buffer;
    private int _position;

    public MessagePackReader(ReadOnlySpan<byte> buffer) => _buffer = buffer;

    /// <summary>Offset of the next value in the input.</summary>
    public readonly int Position => _position;

    public readonly int Remaining => _buffer.Length - _position;

    public readonly bool End => _position >= _buffer.Length;

    /// <summary>The input bytes from <paramref name="start"/> to the current position: the encoding of what was read since.</summary>
    public readonly ReadOnlySpan<byte> Consumed(int start) => _buffer[start.._position];

    /// <summary>The format byte of the next value, for dispatch on formats that <see cref="PeekType"/> groups together.</summary>
    public readonly byte PeekCode() => PeekCode("a value");

    /// <summary>The type of the next value; the reserved code 0xC1 and ext types throw.</summary>
    public readonly MessagePackType PeekType() => TypeOf(PeekCode("a value"), _position);

    public void ReadNil()
    {
        var code = PeekCode("nil");
        if (code != MessagePackCode.Nil)
        {
            MessagePackThrowHelper.UnexpectedCode("nil", _position, code);
        }

        _position++;
    }

    /// <summary>Consumes a nil and returns true, or returns false and leaves any other value in place.</summary>
    public bool TryReadNil()
    {
        if (PeekCode("a value") != MessagePackCode.Nil)
        {
            return false;
        }

        _position++;
        return true;
    }

    public bool ReadBoolean()
    {
        var code = PeekCode("a Boolean");
        var value = code switch
        {
            MessagePackCode.True => true,
            MessagePackCode.False => false,
            _ => MessagePackThrowHelper.UnexpectedCode<bool>("a Boolean", _position, code),
        };
        _position++;
        return value;
    }

    public byte ReadByte() => (byte)ReadUnsigned("a Byte", byte.MaxValue);

    public ushort ReadUInt16() => (ushort)ReadUnsigned("a UInt16", ushort.MaxValue);

    public uint ReadUInt32() => (uint)ReadUnsigned("a UInt32", uint.MaxValue);

    public ulong ReadUInt64() => ReadUnsigned("a UInt64", ulong.MaxValue);

    public sbyte ReadSByte() => (sbyte)ReadSigned("an SByte", sbyte.MinValue, sbyte.MaxValue);

    public short ReadInt16() => (short)ReadSigned("an Int16", short.MinValue, short.MaxValue);

    public int ReadInt32() => (int)ReadSigned("an Int32", int.MinValue, int.MaxValue);

    public long ReadInt64() => ReadSigned("an Int64", long.MinValue, long.MaxValue);

    /// <summary>Reads a float 64, or a float 32 widened exactly.</summary>
    public double ReadDouble()
    {
        var start = _position;
        var code = PeekCode("a float");
        double value;
        switch (code)
        {
            case MessagePackCode.Float64:
                value = BinaryPrimitives.ReadDoubleBigEndian(Take(start + 1, 8, start, code, "float 64 payload"));
                _position = start + 9;
                break;
            case MessagePackCode.Float32:
                value = BinaryPrimitives.ReadSingleBigEndian(Take(start + 1, 4, start, code, "float 32 payload"));
                _position = start + 5;
                break;
            default:
                MessagePackThrowHelper.UnexpectedCode("a float", start, code);
                return default;
        }

        return value;
    }

    /// <summary>Returns the bytes of a str as a slice of the input, not checked for valid UTF-8.</summary>
    public ReadOnlySpan<byte> ReadStringUtf8() => ReadPayload(
        MessagePackCode.MinFixStr, MessagePackCode.MaxFixStr, MessagePackCode.MaxFixStrLength,
        MessagePackCode.Str8, MessagePackCode.Str16, MessagePackCode.Str32, "a str", StrLabels);

    /// <summary>Reads a str into a new string; invalid UTF-8 throws.</summary>
    public string ReadString()
    {
        var start = _position;
        var bytes = ReadStringUtf8();
        if (!Utf8.IsValid(bytes))
        {
            _position = start;
            MessagePackThrowHelper.InvalidUtf8(start, _buffer[start]);
        }

        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Returns the payload of a bin as a slice of the input, without copying it.</summary>
    public ReadOnlySpan<byte> ReadBinary() => ReadPayload(
        minFix: 1, maxFix: 0, fixLengthMask: 0, MessagePackCode.Bin8, MessagePackCode.Bin16, MessagePackCode.Bin32, "a bin", BinLabels);

    /// <summary>A length-prefixed payload (str or bin) as a slice of the input; bin has no fix form (minFix &gt; maxFix).</summary>
    private ReadOnlySpan<byte> ReadPayload(
        byte minFix, byte maxFix, int fixLengthMask, byte code8, byte code16, byte code32, string expected, string[] labels)
    {
        var start = _position;
        var code = PeekCode(expected);
        uint length;
        int header;
        if (code >= minFix && code <= maxFix)
        {
            length = (uint)(code & fixLengthMask);
            header = 1;
        }
        else if (code == code8)
        {
            length = Take(start + 1, 1, start, code, labels[0])[0];
            header = 2;
        }
        else if (code == code16)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(Take(start + 1, 2, start, code, labels[1]));
            header = 3;
        }
        else if (code == code32)
        {
            length = BinaryPrimitives.ReadUInt32BigEndian(Take(start + 1, 4, start, code, labels[2]));
            header = 5;
        }
        else
        {
            MessagePackThrowHelper.UnexpectedCode(expected, start, code);
            return default;
        }

        var bytes = Take(start + header, length, start, code, labels[3]);
        _position = start + header + bytes.Length;
        return bytes;
    }

    /// <summary>Reads an array header; a count larger than the bytes left (each element takes one at least) throws.</summary>
    public int ReadArrayHeader() => ReadCollectionHeader(
        MessagePackCode.MinFixArray, MessagePackCode.MaxFixArray, MessagePackCode.Array16, MessagePackCode.Array32, "an array", ArrayLabels, "element", 1);

    /// <summary>Reads a map header; a count larger than half the bytes left (each pair takes two at least) throws.</summary>
    public int ReadMapHeader() => ReadCollectionHeader(
        MessagePackCode.MinFixMap, MessagePackCode.MaxFixMap, MessagePackCode.Map16, MessagePackCode.Map32, "a map", MapLabels, "pair", 2);

    private int ReadCollectionHeader(byte minFix, byte maxFix, byte code16, byte code32, string expected, string[] labels, string item, int bytesPerItem)
    {
        var start = _position;
        var code = PeekCode(expected);
        uint count;
        int header;
        if (code >= minFix && code <= maxFix)
        {
            count = (uint)(code & MessagePackCode.MaxFixCount);
            header = 1;
        }
        else if (code == code16)
        {
            count = BinaryPrimitives.ReadUInt16BigEndian(Take(start + 1, 2, start, code, labels[0]));
            header = 3;
        }
        else if (code == code32)
        {
            count = BinaryPrimitives.ReadUInt32BigEndian(Take(start + 1, 4, start, code, labels[1]));
            header = 5;
        }
        else
        {
            MessagePackThrowHelper.UnexpectedCode(expected, start, code);
            return default;
        }

        var remaining = _buffer.Length - start - header;
        if (count > (uint)remaining / (uint)bytesPerItem)
        {
            MessagePackThrowHelper.CountExceedsInput(count, item, bytesPerItem, remaining, start, code);
        }

        _position = start + header;
        return (int)count;
    }

    /// <summary>Skips the next value, arrays and maps included, nested at most <see cref="DefaultMaxDepth"/> deep.</summary>
    public void Skip() => Skip(DefaultMaxDepth);

    /// <summary>Skips the next value; arrays and maps nested deeper than <paramref name="maxDepth"/> throw.</summary>
    public void Skip(int maxDepth)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDepth);
        SkipValue(maxDepth, 0);
    }

    private void SkipValue(int maxDepth, int depth)
    {
        var start = _position;
        var code = PeekCode("a value");
        switch (TypeOf(code, start))
        {
            case MessagePackType.String:
                ReadStringUtf8();
                break;
            case MessagePackType.Binary:
                ReadBinary();
                break;
            case MessagePackType.Array:
                CheckDepth(maxDepth, depth, start, code);
                for (var count = ReadArrayHeader(); count > 0; count--)
                {
                    SkipValue(maxDepth, depth + 1);
                }

                break;
            case MessagePackType.Map:
                CheckDepth(maxDepth, depth, start, code);
                for (var count = (long)ReadMapHeader() * 2; count > 0; count--)
                {
                    SkipValue(maxDepth, depth + 1);
                }

                break;
            default:
                var size = ScalarSize(code);
                Take(start + 1, (uint)size - 1, start, code, "payload");
                _position = start + size;
                break;
        }
    }

    private static void CheckDepth(int maxDepth, int depth, int start, byte code)
    {
        if (depth >= maxDepth)
        {
            MessagePackThrowHelper.TooDeep(maxDepth, start, code);
        }

        // A caller's large maxDepth on a thread with a small stack fails here instead of overflowing the stack.
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            MessagePackThrowHelper.TooDeepForStack(depth, start, code);
        }
    }

    // Total size, code included, of nil, Boolean, integer and float values.
    private static int ScalarSize(byte code) => code switch
    {
        MessagePackCode.UInt8 or MessagePackCode.Int8 => 2,
        MessagePackCode.UInt16 or MessagePackCode.Int16 => 3,
        MessagePackCode.UInt32 or MessagePackCode.Int32 or MessagePackCode.Float32 => 5,
        MessagePackCode.UInt64 or MessagePackCode.Int64 or MessagePackCode.Float64 => 9,
        _ => 1,
    };

    private static MessagePackType TypeOf(byte code, int offset) => code switch
    {
        <= MessagePackCode.MaxPositiveFixInt => MessagePackType.Integer,
        <= MessagePackCode.MaxFixMap => MessagePackType.Map,
        <= MessagePackCode.MaxFixArray => MessagePackType.Array,
        <= MessagePackCode.MaxFixStr => MessagePackType.String,
        MessagePackCode.Nil => MessagePackType.Nil,
        MessagePackCode.False or MessagePackCode.True => MessagePackType.Boolean,
        MessagePackCode.Bin8 or MessagePackCode.Bin16 or MessagePackCode.Bin32 => MessagePackType.Binary,
        MessagePackCode.Float32 or MessagePackCode.Float64 => MessagePackType.Float,
        >= MessagePackCode.UInt8 and <= MessagePackCode.Int64 => MessagePackType.Integer,
        MessagePackCode.Str8 or MessagePackCode.Str16 or MessagePackCode.Str32 => MessagePackType.String,
        MessagePackCode.Array16 or MessagePackCode.Array32 => MessagePackType.Array,
        MessagePackCode.Map16 or MessagePackCode.Map32 => MessagePackType.Map,
        >= MessagePackCode.MinNegativeFixInt => MessagePackType.Integer,
        _ => MessagePackThrowHelper.UnexpectedCode<MessagePackType>("a value", offset, code),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly byte PeekCode(string expected)
    {
        var position = _position;
        if ((uint)position >= (uint)_buffer.Length)
        {
            MessagePackThrowHelper.EndOfInput(expected, position);
        }

        return _buffer[position];
    }

    /// <summary>The <paramref name="size"/> bytes at <paramref name="offset"/>, or a throw naming the value they belong to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly ReadOnlySpan<byte> Take(int offset, uint size, int start, byte code, string part)
    {
        // The sum in 64 bits cannot overflow, so a 4 GB length compares as 4 GB.
        if ((ulong)(uint)offset + size > (uint)_buffer.Length)
        {
            MessagePackThrowHelper.Truncated(part, size, offset, Math.Max(0, _buffer.Length - offset), start, code);
        }

        return _buffer.Slice(offset, (int)size);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long ReadSigned(string expected, long min, long max)
    {
        var start = _position;
        var code = PeekCode(expected);
        long value;
        int size;
        if (code <= MessagePackCode.MaxPositiveFixInt)
        {
            value = code;
            size = 1;
        }
        else if (code >= MessagePackCode.MinNegativeFixInt)
        {
            value = unchecked((sbyte)code);
            size = 1;
        }
        else
        {
            size = ScalarSize(code);
            switch (code)
            {
                case MessagePackCode.UInt8:
                    value = Take(start + 1, 1, start, code, "uint 8 payload")[0];
                    break;
                case MessagePackCode.UInt16:
                    value = BinaryPrimitives.ReadUInt16BigEndian(Take(start + 1, 2, start, code, "uint 16 payload"));
                    break;
                case MessagePackCode.UInt32:
                    value = BinaryPrimitives.ReadUInt32BigEndian(Take(start + 1, 4, start, code, "uint 32 payload"));
                    break;
                case MessagePackCode.UInt64:
                    var unsigned = BinaryPrimitives.ReadUInt64BigEndian(Take(start + 1, 8, start, code, "uint 64 payload"));
                    if (unsigned > long.MaxValue)
                    {
                        MessagePackThrowHelper.IntegerOverflow(expected, start, code, unsigned);
                    }

                    value = (long)unsigned;
                    break;
                case MessagePackCode.Int8:
                    value = unchecked((sbyte)Take(start + 1, 1, start, code, "int 8 payload")[0]);
                    break;
                case MessagePackCode.Int16:
                    value = BinaryPrimitives.ReadInt16BigEndian(Take(start + 1, 2, start, code, "int 16 payload"));
                    break;
                case MessagePackCode.Int32:
                    value = BinaryPrimitives.ReadInt32BigEndian(Take(start + 1, 4, start, code, "int 32 payload"));
                    break;
                case MessagePackCode.Int64:
                    value = BinaryPrimitives.ReadInt64BigEndian(Take(start + 1, 8, start, code, "int 64 payload"));
                    break;
                default:
                    MessagePackThrowHelper.UnexpectedCode(expected, start, code);
                    return default;
            }
        }

        if (value < min || value > max)
        {
            MessagePackThrowHelper.IntegerOverflow(expected, start, code, value);
        }

        _position = start + size;
        return value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ReadUnsigned(string expected, ulong max)
    {
        var start = _position;
        var code = PeekCode(expected);
        ulong value;
        int size;
        if (code <= MessagePackCode.MaxPositiveFixInt)
        {
            value = code;
            size = 1;
        }
        else
        {
            size = ScalarSize(code);
            switch (code)
            {
                case MessagePackCode.UInt8:
                    value = Take(start + 1, 1, start, code, "uint 8 payload")[0];
                    break;
                case MessagePackCode.UInt16:
                    value = BinaryPrimitives.ReadUInt16BigEndian(Take(start + 1, 2, start, code, "uint 16 payload"));
                    break;
                case MessagePackCode.UInt32:
                    value = BinaryPrimitives.ReadUInt32BigEndian(Take(start + 1, 4, start, code, "uint 32 payload"));
                    break;
                case MessagePackCode.UInt64:
                    value = BinaryPrimitives.ReadUInt64BigEndian(Take(start + 1, 8, start, code, "uint 64 payload"));
                    break;
                default:
                    var signed = code switch
                    {
                        >= MessagePackCode.MinNegativeFixInt => unchecked((sbyte)code),
                        MessagePackCode.Int8 => unchecked((sbyte)Take(start + 1, 1, start, code, "int 8 payload")[0]),
                        MessagePackCode.Int16 => BinaryPrimitives.ReadInt16BigEndian(Take(start + 1, 2, start, code, "int 16 payload")),
                        MessagePackCode.Int32 => BinaryPrimitives.ReadInt32BigEndian(Take(start + 1, 4, start, code, "int 32 payload")),
                        MessagePackCode.Int64 => BinaryPrimitives.ReadInt64BigEndian(Take(start + 1, 8, start, code, "int 64 payload")),
                        _ => MessagePackThrowHelper.UnexpectedCode<long>(expected, start, code),
                    };
                    if (signed < 0)
                    {
                        MessagePackThrowHelper.IntegerOverflow(expected, start, code, signed);
                    }

                    value = (ulong)signed;
                    break;
            }
        }

        if (value > max)
        {
            MessagePackThrowHelper.IntegerOverflow(expected, start, code, value);
        }

        _position = start + size;
        return value;
    }
}
