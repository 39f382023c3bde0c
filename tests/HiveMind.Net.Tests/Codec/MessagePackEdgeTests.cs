using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using HiveMind.Net.Codec;
using MessagePack;

namespace HiveMind.Net.Tests.Codec;

/// <summary>Exact bytes and round trips at every width edge of every format HiveMind writes and reads with MessagePack-CSharp.</summary>
public sealed unsafe class MessagePackEdgeTests
{
    private delegate Int128 ReadInteger(ref MessagePackReader reader);

    private static readonly IntegerWidth[] Widths =
    [
        new("Byte", byte.MinValue, byte.MaxValue, v => MsgValue.Encode((ref MessagePackWriter w) => w.Write((byte)v)), (ref MessagePackReader r) => r.ReadByte()),
        new("UInt16", ushort.MinValue, ushort.MaxValue, v => MsgValue.Encode((ref MessagePackWriter w) => w.Write((ushort)v)), (ref MessagePackReader r) => r.ReadUInt16()),
        new("UInt32", uint.MinValue, uint.MaxValue, v => MsgValue.Encode((ref MessagePackWriter w) => w.Write((uint)v)), (ref MessagePackReader r) => r.ReadUInt32()),
        new("UInt64", ulong.MinValue, ulong.MaxValue, v => MsgValue.Encode((ref MessagePackWriter w) => w.Write((ulong)v)), (ref MessagePackReader r) => r.ReadUInt64()),
        new("SByte", sbyte.MinValue, sbyte.MaxValue, v => MsgValue.Encode((ref MessagePackWriter w) => w.Write((sbyte)v)), (ref MessagePackReader r) => r.ReadSByte()),
        new("Int16", short.MinValue, short.MaxValue, v => MsgValue.Encode((ref MessagePackWriter w) => w.Write((short)v)), (ref MessagePackReader r) => r.ReadInt16()),
        new("Int32", int.MinValue, int.MaxValue, v => MsgValue.Encode((ref MessagePackWriter w) => w.Write((int)v)), (ref MessagePackReader r) => r.ReadInt32()),
        new("Int64", long.MinValue, long.MaxValue, v => MsgValue.Encode((ref MessagePackWriter w) => w.Write((long)v)), (ref MessagePackReader r) => r.ReadInt64()),
    ];

    public static TheoryData<string, string> IntegerEncodings => new()
    {
        { "0", "00" },
        { "127", "7f" },
        { "128", "cc80" },
        { "255", "ccff" },
        { "256", "cd0100" },
        { "32767", "cd7fff" },
        { "32768", "cd8000" },
        { "65535", "cdffff" },
        { "65536", "ce00010000" },
        { "2147483647", "ce7fffffff" },
        { "2147483648", "ce80000000" },
        { "4294967295", "ceffffffff" },
        { "4294967296", "cf0000000100000000" },
        { "9223372036854775807", "cf7fffffffffffffff" },
        { "9223372036854775808", "cf8000000000000000" },
        { "18446744073709551615", "cfffffffffffffffff" },
        { "-1", "ff" },
        { "-31", "e1" },
        { "-32", "e0" },
        { "-33", "d0df" },
        { "-127", "d081" },
        { "-128", "d080" },
        { "-129", "d1ff7f" },
        { "-32767", "d18001" },
        { "-32768", "d18000" },
        { "-32769", "d2ffff7fff" },
        { "-2147483648", "d280000000" },
        { "-2147483649", "d3ffffffff7fffffff" },
        { "-9223372036854775808", "d38000000000000000" },
    };

    public static TheoryData<int, string> StrHeaders => new()
    {
        { 0, "a0" },
        { 1, "a1" },
        { 31, "bf" },
        { 32, "d920" },
        { 255, "d9ff" },
        { 256, "da0100" },
        { 65535, "daffff" },
        { 65536, "db00010000" },
    };

    public static TheoryData<int, string> BinHeaders => new()
    {
        { 0, "c400" },
        { 1, "c401" },
        { 255, "c4ff" },
        { 256, "c50100" },
        { 65535, "c5ffff" },
        { 65536, "c600010000" },
    };

    public static TheoryData<int, string, string> ContainerHeaders => new()
    {
        { 0, "90", "80" },
        { 1, "91", "81" },
        { 15, "9f", "8f" },
        { 16, "dc0010", "de0010" },
        { 65535, "dcffff", "deffff" },
        { 65536, "dd00010000", "df00010000" },
    };

    public static TheoryData<int> ChunkSizes => [1, 2, 3, 5, 8, 4096];

    [Theory]
    [MemberData(nameof(IntegerEncodings))]
    public void WriteInteger_EdgeValue_EmitsSmallestEncoding(string text, string expected)
    {
        var value = Int128.Parse(text, CultureInfo.InvariantCulture);
        foreach (var width in Widths.Where(w => w.Fits(value)))
        {
            var actual = MsgValue.Hex(width.Write(value));
            Assert.True(
                expected == actual,
                $"{value} written as {width.Name} encoded as {actual}, expected {expected} ({Format(expected)}).");
        }
    }

    [Theory]
    [MemberData(nameof(IntegerEncodings))]
    public void ReadInteger_EveryEncodingOfEdgeValue_ReadsWhereItFitsAndThrowsOtherwise(string text, string smallest)
    {
        var value = Int128.Parse(text, CultureInfo.InvariantCulture);
        var encodings = AllEncodings(value).ToList();
        Assert.Contains(encodings, e => MsgValue.Hex(e) == smallest);
        foreach (var encoding in encodings)
        {
            foreach (var width in Widths)
            {
                var context = $"{value} encoded as {MsgValue.Hex(encoding)} ({Format(encoding[0])}) read as {width.Name}";
                var reader = new MessagePackReader(encoding);
                if (width.Fits(value))
                {
                    var read = width.Read(ref reader);
                    Assert.True(read == value, $"{context} gave {read}.");
                    Assert.True(reader.End, $"{context} stopped at offset {reader.Consumed} of {encoding.Length}.");
                }
                else
                {
                    // The library checks the conversion: a value that does not fit is an OverflowException, bad input.
                    var error = ReadFails(encoding, width.Read);
                    Assert.True(error is OverflowException, $"{context} gave {error?.GetType().Name ?? "no exception"} although {value} does not fit.");
                }
            }
        }
    }

    [Fact]
    public void WriteNilAndBoolean_Values_EmitC0C2C3AndReadBack()
    {
        var bytes = MsgValue.Encode((ref MessagePackWriter w) =>
        {
            w.WriteNil();
            w.Write(false);
            w.Write(true);
        });
        Assert.Equal("c0c2c3", MsgValue.Hex(bytes));
        var reader = new MessagePackReader(bytes);
        Assert.Equal(MessagePackType.Nil, reader.NextMessagePackType);
        Assert.True(reader.TryReadNil(), "TryReadNil did not consume 0xC0.");
        Assert.False(reader.TryReadNil(), "TryReadNil consumed 0xC2 (false) as nil.");
        Assert.Equal(1, reader.Consumed);
        Assert.Equal(MessagePackType.Boolean, reader.NextMessagePackType);
        Assert.False(reader.ReadBoolean(), "0xC2 did not read as false.");
        Assert.True(reader.ReadBoolean(), "0xC3 did not read as true.");
        Assert.True(reader.End, $"the reader stopped at offset {reader.Consumed} of 3.");
    }

    [Fact]
    public void WriteDouble_EdgeValues_EmitFloat64AndRoundTripBits()
    {
        foreach (var value in CodecEdges.Doubles)
        {
            var bits = BitConverter.DoubleToUInt64Bits(value);
            var bytes = MsgValue.Encode((ref MessagePackWriter w) => w.Write(value));
            var expected = "cb" + bits.ToString("x16", CultureInfo.InvariantCulture);
            Assert.True(expected == MsgValue.Hex(bytes), $"float 64 {value} (bits {bits:x16}) encoded as {MsgValue.Hex(bytes)}, expected {expected}.");
            var reader = new MessagePackReader(bytes);
            Assert.Equal(MessagePackType.Float, reader.NextMessagePackType);
            var read = BitConverter.DoubleToUInt64Bits(reader.ReadDouble());
            Assert.True(read == bits, $"float 64 {value} (bits {bits:x16}) read back as bits {read:x16}.");
        }
    }

    [Theory]
    [InlineData("ca3fc00000", 1.5)]
    [InlineData("ca7f7fffff", (double)float.MaxValue)]
    [InlineData("ca00000001", (double)float.Epsilon)]
    [InlineData("ca80000000", -0.0)]
    [InlineData("ca7f800000", double.PositiveInfinity)]
    [InlineData("caff800000", double.NegativeInfinity)]
    [InlineData("ca7fc00000", double.NaN)]
    public void ReadDouble_Float32_WidensExactly(string hex, double expected)
    {
        var reader = new MessagePackReader(Convert.FromHexString(hex));
        Assert.Equal(MessagePackType.Float, reader.NextMessagePackType);
        var value = reader.ReadDouble();
        Assert.True(
            double.IsNaN(expected) ? double.IsNaN(value) : value.Equals(expected) && double.IsNegative(value) == double.IsNegative(expected),
            $"float 32 {hex} read as {value}, expected {expected}.");
        Assert.True(reader.End, $"float 32 {hex}: the reader stopped at offset {reader.Consumed} of 5.");
    }

    [Theory]
    [MemberData(nameof(StrHeaders))]
    public void WriteString_EdgeLength_EmitsSmallestHeaderAndRoundTrips(int length, string header)
    {
        var text = CodecEdges.Ascii(length);
        var payload = Encoding.ASCII.GetBytes(text);
        var fromChars = MsgValue.Encode((ref MessagePackWriter w) => w.Write(text));
        var fromUtf8 = MsgValue.Encode((ref MessagePackWriter w) => w.WriteString(payload));
        AssertHeaderAndPayload(fromChars, header, payload, $"str of {length} byte(s) from chars");
        Assert.True(fromChars.AsSpan().SequenceEqual(fromUtf8), $"str of {length} byte(s) from UTF-8 differs from the one from chars.");

        var reader = new MessagePackReader(fromChars);
        Assert.Equal(MessagePackType.String, reader.NextMessagePackType);
        Assert.True(text == reader.ReadText(), $"str of {length} byte(s) ({header}) read back as other text.");
        Assert.True(reader.End, $"str of {length} byte(s): the reader stopped at offset {reader.Consumed} of {fromChars.Length}.");
        reader = new MessagePackReader(fromChars);
        var span = reader.ReadStringUtf8().Span;
        Assert.True(
            length == 0 || Unsafe.AreSame(ref MemoryMarshal.GetReference(span), ref fromChars[header.Length / 2]),
            $"str of {length} byte(s): ReadStringUtf8 returned a copy, not a slice of the input.");
        Assert.True(span.SequenceEqual(payload), $"str of {length} byte(s): ReadStringUtf8 returned other bytes.");
    }

    [Fact]
    public void WriteString_MultiByteText_CountsUtf8BytesInHeader()
    {
        foreach (var text in CodecEdges.MultiByteTexts)
        {
            var utf8 = Encoding.UTF8.GetBytes(text);
            var header = utf8.Length switch
            {
                <= 31 => $"{0xA0 | utf8.Length:x2}",
                <= 255 => $"d9{utf8.Length:x2}",
                <= 65535 => $"da{utf8.Length:x4}",
                _ => $"db{utf8.Length:x8}",
            };
            var bytes = MsgValue.Encode((ref MessagePackWriter w) => w.Write(text));
            AssertHeaderAndPayload(bytes, header, utf8, $"str of {text.Length} char(s), {utf8.Length} UTF-8 byte(s)");
            var reader = new MessagePackReader(bytes);
            Assert.True(text == reader.ReadText(), $"str of {utf8.Length} UTF-8 byte(s) read back as other text.");
        }
    }

    [Theory]
    [MemberData(nameof(BinHeaders))]
    public void WriteBinary_EdgeLength_EmitsSmallestHeaderAndReadsAsSlice(int length, string header)
    {
        var payload = CodecEdges.Pattern(length);
        var bytes = MsgValue.Encode((ref MessagePackWriter w) => w.Write(payload));
        AssertHeaderAndPayload(bytes, header, payload, $"bin of {length} byte(s)");

        var reader = new MessagePackReader(bytes);
        Assert.Equal(MessagePackType.Binary, reader.NextMessagePackType);
        var span = reader.ReadBinary().Span;
        Assert.True(span.SequenceEqual(payload), $"bin of {length} byte(s) ({header}) read back as other bytes.");
        Assert.True(
            length == 0 || Unsafe.AreSame(ref MemoryMarshal.GetReference(span), ref bytes[header.Length / 2]),
            $"bin of {length} byte(s): ReadBinary returned a copy, not a slice of the input.");
        Assert.True(reader.End, $"bin of {length} byte(s): the reader stopped at offset {reader.Consumed} of {bytes.Length}.");
    }

    [Theory]
    [MemberData(nameof(BinHeaders))]
    public void WriteBinary_NativeMemory_MatchesManagedBytes(int length, string header)
    {
        var native = (byte*)NativeMemory.Alloc((nuint)Math.Max(length, 1));
        try
        {
            var source = new Span<byte>(native, length);
            CodecEdges.Pattern(length).CopyTo(source);
            // Pages and diffs go out this way: a span over native memory, copied once, into the frame.
            var fromPointer = MsgValue.Encode((ref MessagePackWriter w) => w.Write(new ReadOnlySpan<byte>(native, length)));
            var fromSpan = MsgValue.Encode((ref MessagePackWriter w) => w.Write(CodecEdges.Pattern(length)));
            Assert.True(
                fromPointer.AsSpan().SequenceEqual(fromSpan),
                $"bin of {length} byte(s) ({header}) from native memory differs from the same bytes in a managed array.");
        }
        finally
        {
            NativeMemory.Free(native);
        }
    }

    [Theory]
    [MemberData(nameof(ContainerHeaders))]
    public void WriteArrayHeader_EdgeCount_EmitsSmallestHeaderAndRoundTrips(int count, string header, string mapHeader)
    {
        var bytes = MsgValue.Encode((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(count);
            for (var i = 0; i < count; i++)
            {
                w.WriteNil();
            }
        });
        AssertHeaderAndPayload(bytes, header, Enumerable.Repeat((byte)0xC0, count).ToArray(), $"array of {count} nil(s)");
        var reader = new MessagePackReader(bytes);
        Assert.Equal(MessagePackType.Array, reader.NextMessagePackType);
        var read = reader.ReadArrayHeader();
        Assert.True(read == count, $"array header {header} read as {read} element(s), expected {count} (map header would be {mapHeader}).");
        for (var i = 0; i < count; i++)
        {
            reader.ReadNil();
        }

        Assert.True(reader.End, $"array of {count}: the reader stopped at offset {reader.Consumed} of {bytes.Length}.");
    }

    [Theory]
    [MemberData(nameof(ContainerHeaders))]
    public void WriteMapHeader_EdgeCount_EmitsSmallestHeaderAndRoundTrips(int count, string arrayHeader, string header)
    {
        var bytes = MsgValue.Encode((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(count);
            for (var i = 0; i < count; i++)
            {
                w.Write(i % 128);
                w.Write(i % 2 == 0);
            }
        });
        var pairs = Enumerable.Range(0, count).SelectMany(i => new[] { (byte)(i % 128), i % 2 == 0 ? (byte)0xC3 : (byte)0xC2 }).ToArray();
        AssertHeaderAndPayload(bytes, header, pairs, $"map of {count} pair(s)");
        var reader = new MessagePackReader(bytes);
        Assert.Equal(MessagePackType.Map, reader.NextMessagePackType);
        var read = reader.ReadMapHeader();
        Assert.True(read == count, $"map header {header} read as {read} pair(s), expected {count} (array header would be {arrayHeader}).");
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(i % 128, reader.ReadInt32());
            Assert.Equal(i % 2 == 0, reader.ReadBoolean());
        }

        Assert.True(reader.End, $"map of {count}: the reader stopped at offset {reader.Consumed} of {bytes.Length}.");
    }

    [Fact]
    public void WriteHeaders_LargestUInt32Count_EmitsArray32AndMap32()
    {
        Assert.Equal("ddffffffff", MsgValue.Hex(MsgValue.Encode((ref MessagePackWriter w) => w.WriteArrayHeader(uint.MaxValue))));
        Assert.Equal("dfffffffff", MsgValue.Hex(MsgValue.Encode((ref MessagePackWriter w) => w.WriteMapHeader(uint.MaxValue))));
        Assert.Equal("dd7fffffff", MsgValue.Hex(MsgValue.Encode((ref MessagePackWriter w) => w.WriteArrayHeader(int.MaxValue))));
    }

    [Fact]
    public void Skip_EveryEdgeValue_LandsRightAfterIt()
    {
        var values = CodecEdges.All();
        var bytes = MsgValue.Encode(values);
        var reader = new MessagePackReader(bytes);
        var expectedEnd = 0;
        foreach (var value in values)
        {
            expectedEnd += value.Encode().Length;
            reader.SkipValue();
            Assert.True(reader.Consumed == expectedEnd, $"SkipValue over {value.Label} stopped at offset {reader.Consumed}, expected {expectedEnd}.");
        }

        Assert.True(reader.End, $"SkipValue left {reader.Remaining()} byte(s) after the last value.");
    }

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void Write_SmallOutputSpans_MatchesContiguousOutput(int chunk)
    {
        var values = CodecEdges.All();
        var contiguous = MsgValue.Encode(values);
        var output = new ChunkedBufferWriter(chunk);
        var chunked = MsgValue.Encode(values, output);
        var first = contiguous.AsSpan().CommonPrefixLength(chunked);
        Assert.True(
            first == contiguous.Length && chunked.Length == contiguous.Length,
            $"output in spans of {chunk} byte(s) differs from contiguous output at offset {first} ({chunked.Length} vs {contiguous.Length} bytes).");
        Assert.True(output.Requests > 1, $"spans of {chunk} byte(s): the writer asked the output only {output.Requests} time(s).");
    }

    [Fact]
    public void Write_BeforeFlush_CommitsNothing()
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        writer.Write(128);
        writer.Write("hive");
        Assert.True(output.WrittenCount == 0, $"the output holds {output.WrittenCount} byte(s) before Flush.");
        writer.Flush();
        Assert.Equal("cc80a468697665", MsgValue.Hex(output.WrittenSpan));
        writer.Flush();
        Assert.Equal(7, output.WrittenCount);
    }

    [Fact]
    public void Write_InvalidArguments_Throw()
    {
        // The library takes negative counts and lengths as unsigned, checked: an error, never a 4 GB header.
        var output = new ArrayBufferWriter<byte>();
        Assert.Throws<OverflowException>(() => new MessagePackWriter(output).WriteArrayHeader(-1));
        Assert.Throws<OverflowException>(() => new MessagePackWriter(output).WriteMapHeader(-1));
        Assert.Throws<OverflowException>(() => new MessagePackWriter(output).WriteBinHeader(-1));
        Assert.Throws<OverflowException>(() => new MessagePackWriter(output).WriteStringHeader(-1));
        Assert.Throws<ArgumentNullException>(() => new MessagePackWriter(null!));
        Assert.True(output.WrittenCount == 0, $"refused headers left {output.WrittenCount} byte(s) in the output.");
    }

    [Fact]
    public void WriteString_LoneSurrogate_WritesReplacementCharacter()
    {
        // MessagePack-CSharp encodes a lone surrogate as U+FFFD (EF BF BD) where the hand-written codec threw: the str
        // on the wire is still valid UTF-8, so a reader (HiveMind's ReadText, python) takes it.
        var bytes = MsgValue.Encode((ref MessagePackWriter w) => w.Write("lone \uD800 surrogate"));
        Assert.Equal("b26c6f6e6520efbfbd20737572726f67617465", MsgValue.Hex(bytes));
        var reader = new MessagePackReader(bytes);
        Assert.Equal("lone \uFFFD surrogate", reader.ReadText());
    }

    [Fact]
    public void WriteRead_EveryKindOfValue_AllocatesNothing()
    {
        var output = new ArrayBufferWriter<byte>(1 << 20);
        var payload = CodecEdges.Pattern(300);
        var text = CodecEdges.Ascii(40);
        var utf8 = Encoding.UTF8.GetBytes(text);
        long writeBytes = 0, readBytes = 0;
        // The first round warms up static state and tiered compilation; the second is measured.
        for (var round = 0; round < 2; round++)
        {
            output.ResetWrittenCount();
            var before = GC.GetAllocatedBytesForCurrentThread();
            var writer = new MessagePackWriter(output);
            for (var i = 0; i < 1000; i++)
            {
                writer.WriteArrayHeader(8);
                writer.WriteNil();
                writer.Write(i % 2 == 0);
                writer.Write(-70_000L * i);
                writer.Write((ulong)i << 40);
                writer.Write(i / 3.0);
                writer.Write(text);
                writer.WriteString(utf8);
                writer.Write(payload);
            }

            writer.Flush();
            writeBytes = GC.GetAllocatedBytesForCurrentThread() - before;

            before = GC.GetAllocatedBytesForCurrentThread();
            var reader = new MessagePackReader(output.WrittenMemory);
            var sum = 0L;
            while (!reader.End)
            {
                sum += reader.ReadArrayHeader();
                reader.ReadNil();
                sum += reader.ReadBoolean() ? 1 : 0;
                sum += reader.ReadInt64();
                sum += (long)reader.ReadUInt64();
                sum += (long)reader.ReadDouble();
                sum += reader.ReadStringUtf8().Length;
                sum += reader.ReadStringUtf8().Length;
                sum += reader.ReadBinary().Length;
            }

            readBytes = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.NotEqual(0, sum);
        }

        Assert.True(writeBytes == 0, $"writing 1000 arrays of 8 values allocated {writeBytes} bytes.");
        Assert.True(readBytes == 0, $"reading 1000 arrays of 8 values allocated {readBytes} bytes.");
    }

    private static Exception? ReadFails(byte[] bytes, ReadInteger read)
    {
        try
        {
            var reader = new MessagePackReader(bytes);
            read(ref reader);
            return null;
        }
        catch (Exception e) when (MalformedInput.Is(e))
        {
            return e;
        }
    }

    /// <summary>Every encoding that the specification allows for <paramref name="value"/>, smallest or not.</summary>
    private static IEnumerable<byte[]> AllEncodings(Int128 value)
    {
        if (value >= 0 && value <= 127)
        {
            yield return [(byte)value];
        }

        if (value >= -32 && value < 0)
        {
            yield return [(byte)(sbyte)value];
        }

        if (value >= 0)
        {
            if (value <= byte.MaxValue)
            {
                yield return [0xCC, (byte)value];
            }

            if (value <= ushort.MaxValue)
            {
                yield return [0xCD, .. BigEndian((ulong)value, 2)];
            }

            if (value <= uint.MaxValue)
            {
                yield return [0xCE, .. BigEndian((ulong)value, 4)];
            }

            yield return [0xCF, .. BigEndian((ulong)value, 8)];
        }

        if (value >= sbyte.MinValue && value <= sbyte.MaxValue)
        {
            yield return [0xD0, (byte)(sbyte)value];
        }

        if (value >= short.MinValue && value <= short.MaxValue)
        {
            yield return [0xD1, .. BigEndian((ulong)(long)value, 2)];
        }

        if (value >= int.MinValue && value <= int.MaxValue)
        {
            yield return [0xD2, .. BigEndian((ulong)(long)value, 4)];
        }

        if (value >= long.MinValue && value <= long.MaxValue)
        {
            yield return [0xD3, .. BigEndian((ulong)(long)value, 8)];
        }
    }

    private static byte[] BigEndian(ulong value, int width)
    {
        var bytes = new byte[width];
        for (var i = width - 1; i >= 0; i--, value >>= 8)
        {
            bytes[i] = (byte)value;
        }

        return bytes;
    }

    private static void AssertHeaderAndPayload(byte[] bytes, string header, byte[] payload, string what)
    {
        var headerLength = header.Length / 2;
        var actualHeader = MsgValue.Hex(bytes.AsSpan(0, Math.Min(headerLength, bytes.Length)));
        Assert.True(header == actualHeader, $"{what} starts with {actualHeader}, expected the {Format(header)} header {header}.");
        Assert.True(
            bytes.Length == headerLength + payload.Length,
            $"{what} encoded as {bytes.Length} byte(s), expected {headerLength} + {payload.Length}.");
        var common = bytes.AsSpan(headerLength).CommonPrefixLength(payload);
        Assert.True(common == payload.Length, $"{what}: the payload differs at payload offset {common}.");
    }

    private static string Format(string hex) => Format(Convert.FromHexString(hex)[0]);

    private static string Format(byte code) => code switch
    {
        <= 0x7F => "positive fixint",
        >= 0xE0 => "negative fixint",
        0xCC => "uint 8",
        0xCD => "uint 16",
        0xCE => "uint 32",
        0xCF => "uint 64",
        0xD0 => "int 8",
        0xD1 => "int 16",
        0xD2 => "int 32",
        0xD3 => "int 64",
        0xD9 => "str 8",
        0xDA => "str 16",
        0xDB => "str 32",
        0xC4 => "bin 8",
        0xC5 => "bin 16",
        0xC6 => "bin 32",
        _ => $"0x{code:X2}",
    };

    private sealed record IntegerWidth(string Name, Int128 Min, Int128 Max, Func<Int128, byte[]> Write, ReadInteger Read)
    {
        public bool Fits(Int128 value) => value >= Min && value <= Max;
    }
}
