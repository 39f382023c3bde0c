using HiveMind.Net.Codec;

namespace HiveMind.Net.Tests.Codec;

/// <summary>Truncated, lying, reserved and random input: the reader throws MessagePackFormatException and nothing else.</summary>
public sealed class MessagePackHostileInputTests
{
    private delegate void ReadAction(ref MessagePackReader reader);

    // Every way of reading one value; each must either return or throw MessagePackFormatException.
    private static readonly (string Name, ReadAction Read)[] Readers =
    [
        ("generic", (ref MessagePackReader r) => MsgValue.Read(ref r)),
        ("Skip", (ref MessagePackReader r) => r.Skip()),
        ("PeekType", (ref MessagePackReader r) => r.PeekType()),
        ("PeekCode", (ref MessagePackReader r) => r.PeekCode()),
        ("ReadNil", (ref MessagePackReader r) => r.ReadNil()),
        ("TryReadNil", (ref MessagePackReader r) => r.TryReadNil()),
        ("ReadBoolean", (ref MessagePackReader r) => r.ReadBoolean()),
        ("ReadByte", (ref MessagePackReader r) => r.ReadByte()),
        ("ReadUInt16", (ref MessagePackReader r) => r.ReadUInt16()),
        ("ReadUInt32", (ref MessagePackReader r) => r.ReadUInt32()),
        ("ReadUInt64", (ref MessagePackReader r) => r.ReadUInt64()),
        ("ReadSByte", (ref MessagePackReader r) => r.ReadSByte()),
        ("ReadInt16", (ref MessagePackReader r) => r.ReadInt16()),
        ("ReadInt32", (ref MessagePackReader r) => r.ReadInt32()),
        ("ReadInt64", (ref MessagePackReader r) => r.ReadInt64()),
        ("ReadDouble", (ref MessagePackReader r) => r.ReadDouble()),
        ("ReadString", (ref MessagePackReader r) => r.ReadString()),
        ("ReadStringUtf8", (ref MessagePackReader r) => r.ReadStringUtf8()),
        ("ReadBinary", (ref MessagePackReader r) => r.ReadBinary()),
        ("ReadArrayHeader", (ref MessagePackReader r) => r.ReadArrayHeader()),
        ("ReadMapHeader", (ref MessagePackReader r) => r.ReadMapHeader()),
    ];

    public static TheoryData<string, string> LyingHeaders => new()
    {
        { "c6ffffffff", "bin 32 claiming 4 GB" },
        { "c680000000000102", "bin 32 claiming 2 GB" },
        { "c50100" + new string('0', 2 * 255), "bin 16 one byte short" },
        { "c40a00010203", "bin 8 claiming 10" },
        { "dbffffffff", "str 32 claiming 4 GB" },
        { "da0100", "str 16 claiming 256" },
        { "d90a41", "str 8 claiming 10" },
        { "a541", "fixstr claiming 5" },
        { "dd80000000", "array 32 claiming 2^31 elements" },
        { "ddffffffffc0c0c0", "array 32 claiming 2^32-1 elements" },
        { "dc0003c0c0", "array 16 claiming 3 with 2 bytes" },
        { "93c0c0", "fixarray claiming 3 with 2 bytes" },
        { "df80000000", "map 32 claiming 2^31 pairs" },
        { "dfffffffffc0c0c0c0", "map 32 claiming 2^32-1 pairs" },
        { "de0002c0c0c0", "map 16 claiming 2 pairs with 3 bytes" },
        { "81c0", "fixmap claiming 1 pair with 1 byte" },
    };

    public static TheoryData<byte> ReservedAndExtCodes => [0xC1, 0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8];

    [Fact]
    public void Read_EveryTruncationOfEdgeValues_ThrowsFormatException()
    {
        foreach (var value in CodecEdges.All())
        {
            var bytes = value.Encode();
            foreach (var cut in CutPoints(bytes.Length))
            {
                var prefix = bytes.AsSpan(0, cut).ToArray();
                foreach (var (name, read) in Readers.Take(2))
                {
                    var outcome = Outcome(prefix, read);
                    Assert.True(
                        outcome is MessagePackFormatException,
                        $"{value.Label} cut to {cut} of {bytes.Length} byte(s), read by {name}: {Describe(outcome)}.");
                }
            }
        }
    }

    [Fact]
    public void ReadTyped_EveryTruncationOfItsOwnType_ThrowsFormatException()
    {
        var cases = new (string Name, byte[] Bytes, ReadAction Read)[]
        {
            ("Int64", MsgValue.Of(long.MinValue).Encode(), (ref MessagePackReader r) => r.ReadInt64()),
            ("Int32", MsgValue.Of((long)int.MinValue).Encode(), (ref MessagePackReader r) => r.ReadInt32()),
            ("Int16", MsgValue.Of(-32768L).Encode(), (ref MessagePackReader r) => r.ReadInt16()),
            ("SByte", MsgValue.Of(-128L).Encode(), (ref MessagePackReader r) => r.ReadSByte()),
            ("UInt64", MsgValue.Of(ulong.MaxValue).Encode(), (ref MessagePackReader r) => r.ReadUInt64()),
            ("UInt32", MsgValue.Of((ulong)uint.MaxValue).Encode(), (ref MessagePackReader r) => r.ReadUInt32()),
            ("UInt16", MsgValue.Of(65535UL).Encode(), (ref MessagePackReader r) => r.ReadUInt16()),
            ("Byte", MsgValue.Of(255UL).Encode(), (ref MessagePackReader r) => r.ReadByte()),
            ("Double", MsgValue.Of(1.5).Encode(), (ref MessagePackReader r) => r.ReadDouble()),
            ("Double from float 32", Convert.FromHexString("ca3fc00000"), (ref MessagePackReader r) => r.ReadDouble()),
            ("String", MsgValue.Str(CodecEdges.Ascii(300)).Encode(), (ref MessagePackReader r) => r.ReadString()),
            ("StringUtf8", MsgValue.Str(CodecEdges.Ascii(70000)).Encode(), (ref MessagePackReader r) => r.ReadStringUtf8()),
            ("Binary", MsgValue.Bin(CodecEdges.Pattern(70000)).Encode(), (ref MessagePackReader r) => r.ReadBinary()),
            ("ArrayHeader", CodecEdges.ArrayOf(65536).Encode(), (ref MessagePackReader r) => r.ReadArrayHeader()),
            ("MapHeader", CodecEdges.MapOf(65536).Encode(), (ref MessagePackReader r) => r.ReadMapHeader()),
        };
        foreach (var (name, bytes, read) in cases)
        {
            foreach (var cut in CutPoints(bytes.Length).Where(c => c < bytes.Length))
            {
                // A header only checks that each element could take one byte, so long prefixes pass it by design.
                if (name.EndsWith("Header", StringComparison.Ordinal) && cut >= HeaderEnd(bytes) + (name == "MapHeader" ? 131072 : 65536))
                {
                    continue;
                }

                var outcome = Outcome(bytes.AsSpan(0, cut).ToArray(), read);

                Assert.True(
                    outcome is MessagePackFormatException,
                    $"{name} of {bytes.Length} byte(s) ({MsgValue.Hex(bytes.AsSpan(0, Math.Min(9, bytes.Length)))}...) cut to {cut}: {Describe(outcome)}.");
            }
        }
    }

    [Theory]
    [MemberData(nameof(LyingHeaders))]
    public void Read_LengthBeyondInput_ThrowsWithoutLargeAllocation(string hex, string what)
    {
        var bytes = Convert.FromHexString(hex);
        foreach (var (name, read) in Readers)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var outcome = Outcome(bytes, read);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(
                outcome is MessagePackFormatException || (outcome is null && name.StartsWith("Peek", StringComparison.Ordinal)) || (outcome is null && name == "TryReadNil"),
                $"{what} ({MsgValue.Hex(bytes)}) read by {name}: {Describe(outcome)}.");
            Assert.True(allocated < 64 * 1024, $"{what} read by {name} allocated {allocated} bytes.");
        }
    }

    [Fact]
    public void ReadBinary_Bin32Claiming4GB_MessageNamesCodeLengthAndOffset()
    {
        var error = ReadFails(Convert.FromHexString("c0c6ffffffff0102"), 1, (ref MessagePackReader r) => r.ReadBinary());
        Assert.Equal(
            "Expected 4294967295 byte(s) of bin payload at offset 6 for 0xC6 (bin 32) at offset 1 but only 2 byte(s) remain.",
            error.Message);
        Assert.Equal(1, error.Offset);
    }

    [Fact]
    public void ReadArrayHeader_Array32Claiming2Pow31_MessageNamesCountAndRemainingBytes()
    {
        var error = ReadFails(Convert.FromHexString("dd80000000c0c0"), 0, (ref MessagePackReader r) => r.ReadArrayHeader());
        Assert.Equal(
            "Expected at most 2 element(s) for 0xDD (array 32) at offset 0, as 2 byte(s) remain and each takes 1 at least, "
            + "but its header claims 2147483648.",
            error.Message);
        error = ReadFails(Convert.FromHexString("c0de0002c0c0c0"), 1, (ref MessagePackReader r) => r.ReadMapHeader());
        Assert.Equal(
            "Expected at most 1 pair(s) for 0xDE (map 16) at offset 1, as 3 byte(s) remain and each takes 2 at least, "
            + "but its header claims 2.",
            error.Message);
    }

    [Fact]
    public void ReadInt32_NilAtOffset3_MessageNamesExpectedCodeAndOffset()
    {
        var error = ReadFails(Convert.FromHexString("010203c0"), 3, (ref MessagePackReader r) => r.ReadInt32());
        Assert.Equal("Expected an Int32 at offset 3 but found 0xC0 (nil).", error.Message);
        Assert.Equal(3, error.Offset);
    }

    [Fact]
    public void ReadInt32_UInt32AboveMax_ThrowsNamingValueAndWidth()
    {
        var error = ReadFails(Convert.FromHexString("ceffffffff"), 0, (ref MessagePackReader r) => r.ReadInt32());
        Assert.Equal("Expected an Int32 at offset 0 but found 0xCE (uint 32) holding 4294967295, which does not fit.", error.Message);
        error = ReadFails(Convert.FromHexString("ff"), 0, (ref MessagePackReader r) => r.ReadUInt64());
        Assert.Equal("Expected a UInt64 at offset 0 but found 0xFF (negative fixint) holding -1, which does not fit.", error.Message);
    }

    [Theory]
    [MemberData(nameof(ReservedAndExtCodes))]
    public void Read_ReservedOrExtCode_ThrowsNamingIt(byte code)
    {
        // The code followed by enough bytes for any ext header and payload, so only the code can be at fault.
        var bytes = new byte[40];
        bytes[0] = code;
        var note = code == 0xC1 ? "never used" : "ext";
        foreach (var (name, read) in Readers.Where(r => r.Name != "PeekCode" && r.Name != "TryReadNil"))
        {
            var outcome = Outcome(bytes, read);
            Assert.True(outcome is MessagePackFormatException, $"0x{code:X2} read by {name}: {Describe(outcome)}.");
            Assert.Contains($"0x{code:X2}", outcome.Message, StringComparison.Ordinal);
            Assert.Contains(note, outcome.Message, StringComparison.Ordinal);
            Assert.Contains("offset 0", outcome.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Read_EmptyInput_EveryReaderThrowsEndOfInput()
    {
        foreach (var (name, read) in Readers)
        {
            var outcome = Outcome([], read);
            Assert.True(outcome is MessagePackFormatException, $"empty input read by {name}: {Describe(outcome)}.");
            Assert.Contains("end of the input", outcome.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("a2c328", "a continuation byte missing")]
    [InlineData("a2c0af", "an overlong encoding")]
    [InlineData("a3eda080", "an encoded surrogate")]
    [InlineData("a1ff", "the byte 0xFF")]
    public void ReadString_InvalidUtf8_ThrowsAndStaysAtValue(string hex, string what)
    {
        var bytes = Convert.FromHexString(hex);
        var error = ReadFails(bytes, 0, (ref MessagePackReader r) => r.ReadString());
        Assert.True(error.Message.Contains("UTF-8", StringComparison.Ordinal), $"str with {what}: message '{error.Message}'.");
        var reader = new MessagePackReader(bytes);
        Assert.True(reader.ReadStringUtf8().Length == bytes.Length - 1, $"str with {what}: ReadStringUtf8 did not return the raw bytes.");
    }

    [Fact]
    public void Read_RandomBytes_DecodeOrThrowFormatExceptionOnly()
    {
        var random = new Random(20261121);
        var bytes = new byte[48];
        for (var trial = 0; trial < 20_000; trial++)
        {
            var input = bytes.AsSpan(0, random.Next(bytes.Length + 1));
            random.NextBytes(input);
            // Half the trials steer the first byte to a length-carrying code, so headers get exercised.
            if (trial % 2 == 1 && input.Length > 0)
            {
                input[0] = (byte)random.Next(0xC4, 0xE0);
            }

            AssertDecodesOrThrowsFormat(input.ToArray(), $"random input #{trial}");
        }
    }

    [Fact]
    public void Read_MutatedValidEncodings_DecodeOrThrowFormatExceptionOnly()
    {
        var random = new Random(7);
        var values = Generators.UpTo(Generators.Value(3, pythonSafeMaps: false), 8);
        var samples = FsCheck.Fluent.Gen.Sample(values, 200, 5_000);
        var trial = 0;
        foreach (var sample in samples)
        {
            var bytes = MsgValue.Encode(sample);
            if (bytes.Length == 0)
            {
                continue;
            }

            for (var flips = random.Next(1, 4); flips > 0; flips--)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            var length = random.Next(2) == 0 ? bytes.Length : random.Next(bytes.Length);
            AssertDecodesOrThrowsFormat(bytes[..length], $"mutated encoding #{trial++}");
        }
    }

    [Fact]
    public void Skip_NestingAtDefaultLimit_Succeeds()
    {
        var bytes = Nested(MessagePackReader.DefaultMaxDepth);
        var reader = new MessagePackReader(bytes);
        reader.Skip();
        Assert.True(reader.End, $"Skip over {MessagePackReader.DefaultMaxDepth} nested arrays stopped at offset {reader.Position} of {bytes.Length}.");
    }

    [Fact]
    public void Skip_NestingBeyondDefaultLimit_ThrowsNamingDepth()
    {
        var bytes = Nested(MessagePackReader.DefaultMaxDepth + 1);
        var error = ReadFails(bytes, 0, (ref MessagePackReader r) => r.Skip());
        Assert.Contains("at most 64 nested", error.Message, StringComparison.Ordinal);
        Assert.Contains($"offset {MessagePackReader.DefaultMaxDepth}", error.Message, StringComparison.Ordinal);
        Assert.Equal(MessagePackReader.DefaultMaxDepth, error.Offset);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    public void Skip_ExplicitMaxDepth_AllowsExactlyThatManyLevels(int maxDepth)
    {
        var within = new MessagePackReader(Nested(maxDepth));
        within.Skip(maxDepth);
        Assert.True(within.End, $"Skip({maxDepth}) over {maxDepth} nested level(s) stopped at offset {within.Position}.");
        var error = ReadFails(Nested(maxDepth + 1), 0, (ref MessagePackReader r) => r.Skip(maxDepth));
        Assert.Equal(maxDepth, error.Offset);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MessagePackReader([0xC0]).Skip(-1));
    }

    [Fact]
    public void Skip_MillionLevelsWithUnboundedDepth_ThrowsFormatExceptionNotStackOverflow()
    {
        var bytes = Nested(1_000_000);
        var outcome = Outcome(bytes, (ref MessagePackReader r) => r.Skip(int.MaxValue));
        Assert.True(outcome is MessagePackFormatException, $"Skip(int.MaxValue) over a million nested arrays: {Describe(outcome)}.");
        Assert.Contains("stack", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Skip_MapNestedInArrays_CountsMapsAsLevels()
    {
        // [ { nil: [ nil ] } ] is three levels.
        var bytes = Convert.FromHexString("9181c091c0");
        var reader = new MessagePackReader(bytes);
        reader.Skip(3);
        Assert.True(reader.End, $"Skip(3) over three levels stopped at offset {reader.Position}.");
        var error = ReadFails(bytes, 0, (ref MessagePackReader r) => r.Skip(2));
        Assert.Equal(3, error.Offset);
    }

    private static void AssertDecodesOrThrowsFormat(byte[] input, string what)
    {
        foreach (var (name, read) in Readers)
        {
            var outcome = Outcome(input, read, untilEnd: name is "generic" or "Skip");
            Assert.True(
                outcome is null or MessagePackFormatException,
                $"{what} ({MsgValue.Hex(input)}) read by {name}: {Describe(outcome)}.");
        }
    }

    private static byte[] Nested(int levels)
    {
        var bytes = new byte[levels + 1];
        bytes.AsSpan(0, levels).Fill(0x91);
        bytes[levels] = 0xC0;
        return bytes;
    }

    // Every cut for encodings up to 1 KB; for larger ones every cut near both ends and a stride in between.
    private static IEnumerable<int> CutPoints(int length)
    {
        for (var cut = 0; cut < length; cut++)
        {
            if (length <= 1024 || cut < 64 || cut >= length - 64 || cut % 9973 == 0)
            {
                yield return cut;
            }
        }
    }

    private static int HeaderEnd(byte[] bytes) => bytes[0] switch
    {
        0xDC or 0xDE => 3,
        0xDD or 0xDF => 5,
        _ => 1,
    };

    private static Exception? Outcome(byte[] input, ReadAction read, bool untilEnd = false)
    {
        try
        {
            var reader = new MessagePackReader(input);
            do
            {
                read(ref reader);
            }
            while (untilEnd && !reader.End);

            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    private static MessagePackFormatException ReadFails(byte[] input, int skipBytes, ReadAction read)
    {
        var outcome = Outcome(input[skipBytes..], read);
        Assert.True(outcome is MessagePackFormatException, $"{MsgValue.Hex(input)} from offset {skipBytes}: {Describe(outcome)}.");
        var error = (MessagePackFormatException)outcome;
        if (skipBytes == 0)
        {
            return error;
        }

        // Read again in place, so that the offsets in the message are those of the whole input.
        var reader = new MessagePackReader(input);
        while (reader.Position < skipBytes)
        {
            reader.Skip();
        }

        try
        {
            read(ref reader);
        }
        catch (MessagePackFormatException inPlace)
        {
            return inPlace;
        }

        Assert.Fail($"{MsgValue.Hex(input)} at offset {skipBytes} read in place did not throw.");
        return error;
    }

    private static string Describe(Exception? outcome) => outcome switch
    {
        null => "no exception",
        _ => $"{outcome.GetType().Name}: {outcome.Message}",
    };
}
