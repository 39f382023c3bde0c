using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;

namespace HiveMind.Benchmarks.HandwrittenCodec;

// The codec HiveMind.Net carried before it took MessagePack-CSharp, unchanged but for its namespace: CodecBenchmarks
// measures it as the baseline of the library in the same run. Nothing outside bench/ uses it.

/// <summary>Writes MessagePack values into an <see cref="IBufferWriter{T}"/>, each in its smallest encoding.</summary>
/// <remarks>
/// Values go into the span last taken from the output and reach it on <see cref="Flush"/>. Pass the writer by
/// <see langword="ref"/>: a copy keeps its own unflushed bytes.
/// </remarks>
public ref struct MessagePackWriter
{
    // Payloads larger than the free span are copied in pieces of this size, so the output needs no span that large.
    private const int CopyChunk = 4096;

    // Lone surrogates throw instead of turning silently into U+FFFD.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly IBufferWriter<byte> _output;
    private Span<byte> _free;
    private int _buffered;

    public MessagePackWriter(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
    }

    /// <summary>Commits the bytes written so far to the output.</summary>
    public void Flush()
    {
        if (_buffered > 0)
        {
            _output.Advance(_buffered);
            _buffered = 0;
        }

        _free = default;
    }

    public void WriteNil() => WriteCode(MessagePackCode.Nil);

    public void Write(bool value) => WriteCode(value ? MessagePackCode.True : MessagePackCode.False);

    public void Write(byte value) => Write((ulong)value);

    public void Write(ushort value) => Write((ulong)value);

    public void Write(uint value) => Write((ulong)value);

    public void Write(sbyte value) => Write((long)value);

    public void Write(short value) => Write((long)value);

    public void Write(int value) => Write((long)value);

    /// <summary>Writes a non-negative integer as a positive fixint or the smallest uint format that holds it.</summary>
    public void Write(ulong value)
    {
        if (value <= MessagePackCode.MaxPositiveFixInt)
        {
            WriteCode((byte)value);
        }
        else if (value <= byte.MaxValue)
        {
            var span = GetSpan(2);
            span[1] = (byte)value;
            span[0] = MessagePackCode.UInt8;
            Advance(2);
        }
        else if (value <= ushort.MaxValue)
        {
            var span = GetSpan(3);
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)value);
            span[0] = MessagePackCode.UInt16;
            Advance(3);
        }
        else if (value <= uint.MaxValue)
        {
            var span = GetSpan(5);
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)value);
            span[0] = MessagePackCode.UInt32;
            Advance(5);
        }
        else
        {
            var span = GetSpan(9);
            BinaryPrimitives.WriteUInt64BigEndian(span[1..], value);
            span[0] = MessagePackCode.UInt64;
            Advance(9);
        }
    }

    /// <summary>Writes an integer in the smallest encoding: uint formats when non-negative, int formats otherwise.</summary>
    public void Write(long value)
    {
        if (value >= 0)
        {
            Write((ulong)value);
        }
        else if (value >= MessagePackCode.MinNegativeFixIntValue)
        {
            WriteCode(unchecked((byte)value));
        }
        else if (value >= sbyte.MinValue)
        {
            var span = GetSpan(2);
            span[1] = unchecked((byte)value);
            span[0] = MessagePackCode.Int8;
            Advance(2);
        }
        else if (value >= short.MinValue)
        {
            var span = GetSpan(3);
            BinaryPrimitives.WriteInt16BigEndian(span[1..], (short)value);
            span[0] = MessagePackCode.Int16;
            Advance(3);
        }
        else if (value >= int.MinValue)
        {
            var span = GetSpan(5);
            BinaryPrimitives.WriteInt32BigEndian(span[1..], (int)value);
            span[0] = MessagePackCode.Int32;
            Advance(5);
        }
        else
        {
            var span = GetSpan(9);
            BinaryPrimitives.WriteInt64BigEndian(span[1..], value);
            span[0] = MessagePackCode.Int64;
            Advance(9);
        }
    }

    /// <summary>Writes a float 64; the bits, NaN payloads included, go out unchanged.</summary>
    public void Write(double value)
    {
        var span = GetSpan(9);
        BinaryPrimitives.WriteDoubleBigEndian(span[1..], value);
        span[0] = MessagePackCode.Float64;
        Advance(9);
    }

    /// <summary>Writes text as a str in UTF-8; a lone surrogate throws <see cref="EncoderFallbackException"/>.</summary>
    public void WriteString(ReadOnlySpan<char> value)
    {
        var byteCount = StrictUtf8.GetByteCount(value);
        WriteStringHeader(byteCount);
        var span = GetSpan(byteCount);
        Advance(StrictUtf8.GetBytes(value, span));
    }

    /// <summary>Writes a str from bytes that are already UTF-8; invalid UTF-8 throws <see cref="ArgumentException"/>.</summary>
    public void WriteStringUtf8(ReadOnlySpan<byte> utf8)
    {
        if (!Utf8.IsValid(utf8))
        {
            throw new ArgumentException("The bytes of a str must be valid UTF-8.", nameof(utf8));
        }

        WriteStringHeader(utf8.Length);
        WriteRaw(utf8);
    }

    /// <summary>Writes the header of a str of <paramref name="byteLength"/> UTF-8 bytes; the caller writes them next.</summary>
    public void WriteStringHeader(int byteLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        if (byteLength <= MessagePackCode.MaxFixStrLength)
        {
            WriteCode((byte)(MessagePackCode.MinFixStr | byteLength));
        }
        else if (byteLength <= byte.MaxValue)
        {
            var span = GetSpan(2);
            span[1] = (byte)byteLength;
            span[0] = MessagePackCode.Str8;
            Advance(2);
        }
        else
        {
            WriteCodeAndLength(MessagePackCode.Str16, MessagePackCode.Str32, (uint)byteLength);
        }
    }

    public void WriteBinary(ReadOnlySpan<byte> value)
    {
        WriteBinaryHeader(value.Length);
        WriteRaw(value);
    }

    /// <summary>Writes a bin straight from native memory, such as a page, with no managed copy in between.</summary>
    /// <remarks>SAFETY: the caller keeps <paramref name="length"/> bytes at <paramref name="source"/> allocated for the call.</remarks>
    public unsafe void WriteBinary(byte* source, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (source == null && length > 0)
        {
            throw new ArgumentNullException(nameof(source), $"A null pointer cannot supply {length} byte(s).");
        }

        WriteBinary(new ReadOnlySpan<byte>(source, length));
    }

    /// <summary>Writes the header of a bin of <paramref name="length"/> bytes; the caller writes them next.</summary>
    public void WriteBinaryHeader(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length <= byte.MaxValue)
        {
            var span = GetSpan(2);
            span[1] = (byte)length;
            span[0] = MessagePackCode.Bin8;
            Advance(2);
        }
        else
        {
            WriteCodeAndLength(MessagePackCode.Bin16, MessagePackCode.Bin32, (uint)length);
        }
    }

    public void WriteArrayHeader(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        WriteArrayHeader((uint)count);
    }

    /// <summary>Writes the header of an array of <paramref name="count"/> elements; the caller writes them next.</summary>
    public void WriteArrayHeader(uint count)
    {
        if (count <= MessagePackCode.MaxFixCount)
        {
            WriteCode((byte)(MessagePackCode.MinFixArray | count));
        }
        else
        {
            WriteCodeAndLength(MessagePackCode.Array16, MessagePackCode.Array32, count);
        }
    }

    public void WriteMapHeader(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        WriteMapHeader((uint)count);
    }

    /// <summary>Writes the header of a map of <paramref name="count"/> pairs; the caller writes key, value, key, ... next.</summary>
    public void WriteMapHeader(uint count)
    {
        if (count <= MessagePackCode.MaxFixCount)
        {
            WriteCode((byte)(MessagePackCode.MinFixMap | count));
        }
        else
        {
            WriteCodeAndLength(MessagePackCode.Map16, MessagePackCode.Map32, count);
        }
    }

    /// <summary>Copies bytes that are already MessagePack, or the payload after a header, to the output.</summary>
    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length <= _free.Length)
        {
            bytes.CopyTo(_free);
            Advance(bytes.Length);
        }
        else
        {
            WriteRawSlow(bytes);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteCode(byte code)
    {
        var span = GetSpan(1);
        span[0] = code;
        Advance(1);
    }

    // Lengths above 255 (str, bin) or 15 (array, map) take the 16-bit format up to 65535 and the 32-bit one above.
    private void WriteCodeAndLength(byte code16, byte code32, uint length)
    {
        if (length <= ushort.MaxValue)
        {
            var span = GetSpan(3);
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)length);
            span[0] = code16;
            Advance(3);
        }
        else
        {
            var span = GetSpan(5);
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], length);
            span[0] = code32;
            Advance(5);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> GetSpan(int size) => _free.Length >= size ? _free : GetSpanSlow(size);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Span<byte> GetSpanSlow(int size)
    {
        Flush();
        _free = _output.GetSpan(size);
        if (_free.Length < size)
        {
            MessagePackThrowHelper.ShortSpan(size, _free.Length);
        }

        return _free;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Advance(int count)
    {
        _free = _free[count..];
        _buffered += count;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteRawSlow(ReadOnlySpan<byte> bytes)
    {
        // Fill the free span first, then take pieces from the output until the payload is written.
        var head = _free.Length;
        bytes[..head].CopyTo(_free);
        Advance(head);
        bytes = bytes[head..];
        while (bytes.Length > 0)
        {
            var span = GetSpanSlow(Math.Min(bytes.Length, CopyChunk));
            var count = Math.Min(span.Length, bytes.Length);
            bytes[..count].CopyTo(span);
            Advance(count);
            bytes = bytes[count..];
        }
    }
}
