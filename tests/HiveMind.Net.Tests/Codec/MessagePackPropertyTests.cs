using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using HiveMind.Net.Codec;
using MessagePack;

namespace HiveMind.Net.Tests.Codec;

/// <summary>FsCheck round trips of random values and random sequences of nested values.</summary>
public sealed class MessagePackPropertyTests
{
    private static readonly int[] LengthEdges = [0, 1, 30, 31, 32, 33, 254, 255, 256, 257, 65534, 65535, 65536, 65537];

    [Fact]
    public void WriteReadInt64_RandomValues_RoundTripInSmallestSize()
    {
        PropertyCheck.Holds(Generators.Int64, value =>
        {
            var bytes = MsgValue.Encode((ref MessagePackWriter w) => w.Write(value));
            var size = SmallestSize(value);
            Assert.True(bytes.Length == size, $"{value} encoded in {bytes.Length} byte(s) ({MsgValue.Hex(bytes)}), the smallest width is {size}.");
            var reader = new MessagePackReader(bytes);
            var read = reader.ReadInt64();
            Assert.True(read == value && reader.End, $"{value} in {size} byte(s) read back as {read}, ending at offset {reader.Consumed}.");
        }, maxTest: 2000);
    }

    [Fact]
    public void WriteReadUInt64_RandomValues_RoundTripInSmallestSize()
    {
        PropertyCheck.Holds(Generators.UInt64, value =>
        {
            var bytes = MsgValue.Encode((ref MessagePackWriter w) => w.Write(value));
            var size = value > long.MaxValue ? 9 : SmallestSize((long)value);
            Assert.True(bytes.Length == size, $"{value} encoded in {bytes.Length} byte(s) ({MsgValue.Hex(bytes)}), the smallest width is {size}.");
            var reader = new MessagePackReader(bytes);
            var read = reader.ReadUInt64();
            Assert.True(read == value && reader.End, $"{value} in {size} byte(s) read back as {read}, ending at offset {reader.Consumed}.");
        }, maxTest: 2000);
    }

    [Fact]
    public void WriteReadDouble_RandomBits_RoundTripBitForBit()
    {
        PropertyCheck.Holds(Generators.Double, value =>
        {
            var bits = BitConverter.DoubleToUInt64Bits(value);
            var bytes = MsgValue.Encode((ref MessagePackWriter w) => w.Write(value));
            var reader = new MessagePackReader(bytes);
            var read = BitConverter.DoubleToUInt64Bits(reader.ReadDouble());
            Assert.True(read == bits && bytes.Length == 9, $"float 64 with bits {bits:x16} read back as {read:x16} from {bytes.Length} byte(s).");
        }, maxTest: 2000);
    }

    [Fact]
    public void WriteReadString_RandomText_RoundTrips()
    {
        var generator =
            from length in Gen.OneOf(Gen.Choose(0, 40), Gen.Elements(LengthEdges))
            from seed in Gen.Choose(0, int.MaxValue)
            select Generators.Text(length, seed);
        PropertyCheck.Holds(generator, text =>
        {
            var utf8 = Encoding.UTF8.GetBytes(text);
            var bytes = MsgValue.Encode((ref MessagePackWriter w) => w.Write(text));
            Assert.True(
                bytes.Length == HeaderSize(utf8.Length, hasFixFormat: true) + utf8.Length,
                $"str of {utf8.Length} UTF-8 byte(s) encoded in {bytes.Length} byte(s).");
            var reader = new MessagePackReader(bytes);
            Assert.True(text == reader.ReadText() && reader.End, $"str of {utf8.Length} UTF-8 byte(s) did not read back whole.");
        }, maxTest: 300);
    }

    [Fact]
    public void WriteReadBinary_RandomBytes_RoundTrips()
    {
        var generator =
            from length in Gen.OneOf(Gen.Choose(0, 40), Gen.Elements(LengthEdges))
            from seed in Gen.Choose(0, int.MaxValue)
            select Generators.Bytes(length, seed);
        PropertyCheck.Holds(generator, payload =>
        {
            var bytes = MsgValue.Encode((ref MessagePackWriter w) => w.Write(payload));
            Assert.True(
                bytes.Length == HeaderSize(payload.Length, hasFixFormat: false) + payload.Length,
                $"bin of {payload.Length} byte(s) encoded in {bytes.Length} byte(s).");
            var reader = new MessagePackReader(bytes);
            Assert.True(reader.ReadBinary().Span.SequenceEqual(payload) && reader.End, $"bin of {payload.Length} byte(s) did not read back whole.");
        }, maxTest: 300);
    }

    [Fact]
    public void WriteRead_RandomValueSequences_RoundTripAndSkipAlike()
    {
        var generator =
            from values in Generators.UpTo(Generators.Value(3, pythonSafeMaps: false), 12)
            from chunk in Gen.Elements(0, 1, 2, 3, 7, 64)
            select (values, chunk);
        PropertyCheck.Holds(generator, c =>
        {
            var contiguous = MsgValue.Encode(c.values);
            var output = c.chunk == 0 ? (IBufferWriter<byte>)new ArrayBufferWriter<byte>() : new ChunkedBufferWriter(c.chunk);
            var bytes = MsgValue.Encode(c.values, output);
            Assert.True(
                bytes.AsSpan().SequenceEqual(contiguous),
                $"{c.values.Count} value(s) written in spans of {c.chunk} byte(s) differ from the contiguous output.");
            MsgValue.AssertSame(c.values, MsgValue.ReadAll(bytes), $"{c.values.Count} random value(s) read back");

            // SkipValue must stop where reading the same value stops.
            var reading = new MessagePackReader(bytes);
            var skipping = new MessagePackReader(bytes);
            foreach (var value in c.values)
            {
                MsgValue.Read(ref reading);
                skipping.SkipValue();
                Assert.True(
                    reading.Consumed == skipping.Consumed,
                    $"SkipValue over {value.Label} stopped at offset {skipping.Consumed}, reading stopped at {reading.Consumed}.");
            }
        }, maxTest: 500);
    }

    // Sizes by the specification's ranges, written independently of the writer's branches.
    private static int SmallestSize(long value) => value switch
    {
        >= -32 and <= 127 => 1,
        >= -128 and <= 255 => 2,
        >= -32768 and <= 65535 => 3,
        >= int.MinValue and <= uint.MaxValue => 5,
        _ => 9,
    };

    private static int HeaderSize(int length, bool hasFixFormat) => length switch
    {
        <= 31 when hasFixFormat => 1,
        <= 255 => 2,
        <= 65535 => 3,
        _ => 5,
    };
}

/// <summary>Generators shared by the property and python tests.</summary>
internal static class Generators
{
    // Declared first: the generators below read it while the type initializes.
    private static Gen<ulong> RandomBits { get; } =
        from high in Gen.Choose(int.MinValue, int.MaxValue)
        from low in Gen.Choose(int.MinValue, int.MaxValue)
        select ((ulong)(uint)high << 32) | (uint)low;

    /// <summary>Edge values nudged by up to two, and random bits shifted so that every magnitude turns up.</summary>
    public static Gen<long> Int64 { get; } = Gen.OneOf(
        from edge in Gen.Elements(CodecEdges.Signed)
        from delta in Gen.Choose(-2, 2)
        select unchecked(edge + delta),
        from bits in RandomBits
        from shift in Gen.Choose(0, 63)
        select (long)bits >> shift);

    public static Gen<ulong> UInt64 { get; } = Gen.OneOf(
        from edge in Gen.Elements(CodecEdges.Unsigned)
        from delta in Gen.Choose(-2, 2)
        select unchecked(edge + (ulong)(long)delta),
        from bits in RandomBits
        from shift in Gen.Choose(0, 63)
        select bits >> shift);

    /// <summary>Random bit patterns (NaN payloads, subnormals, infinities included) and the edge doubles.</summary>
    public static Gen<double> Double { get; } = Gen.OneOf(
        Gen.Elements(CodecEdges.Doubles),
        RandomBits.Select(BitConverter.UInt64BitsToDouble));

    /// <summary>Random values nested up to <paramref name="depth"/> levels; python-safe maps have distinct int keys.</summary>
    public static Gen<MsgValue> Value(int depth, bool pythonSafeMaps)
    {
        var scalar = Gen.Frequency(
            (1, Gen.Constant(MsgValue.Nil)),
            (1, Gen.Elements(true, false).Select(MsgValue.Of)),
            (4, Int64.Select(MsgValue.Of)),
            (2, UInt64.Select(MsgValue.Of)),
            (2, Double.Select(MsgValue.Of)),
            (2, from length in Gen.Choose(0, 40)
                from seed in Gen.Choose(0, int.MaxValue)
                from viaUtf8 in Gen.Elements(true, false)
                let text = Text(length, seed)
                select viaUtf8 ? MsgValue.StrUtf8(Encoding.UTF8.GetBytes(text)) : MsgValue.Str(text)),
            (2, from length in Gen.Choose(0, 300)
                from seed in Gen.Choose(0, int.MaxValue)
                select MsgValue.Bin(Bytes(length, seed))));
        if (depth == 0)
        {
            return scalar;
        }

        var inner = Value(depth - 1, pythonSafeMaps);
        var array = UpTo(inner, 20).Select(items => MsgValue.Array([.. items]));
        var map = pythonSafeMaps
            ? from values in UpTo(inner, 18)
              from firstKey in Int64
              select MsgValue.Map([.. values.SelectMany((v, i) => new[] { MsgValue.Of(unchecked(firstKey + i)), v })])
            : from pairs in UpTo(inner, 18)
              select MsgValue.Map([.. pairs.Count % 2 == 0 ? pairs : pairs.Skip(1)]);
        return Gen.Frequency((6, scalar), (1, array), (1, map));
    }

    /// <summary>Between 0 and <paramref name="max"/> values, whatever FsCheck's size.</summary>
    public static Gen<List<MsgValue>> UpTo(Gen<MsgValue> generator, int max) =>
        Gen.Choose(0, max).SelectMany(count => Gen.ListOf(generator, count));

    /// <summary>Text of <paramref name="length"/> code points from every UTF-8 width, with no lone surrogates.</summary>
    public static string Text(int length, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        for (var i = 0; i < length; i++)
        {
            var codePoint = random.Next(10) switch
            {
                < 6 => random.Next(0x20, 0x7F),
                6 => random.Next(0x80, 0x800),
                7 => random.Next(0x800, 0xD800),
                8 => random.Next(0xE000, 0x10000),
                _ => random.Next(0x10000, 0x110000),
            };
            text.Append(char.ConvertFromUtf32(codePoint));
        }

        return text.ToString();
    }

    public static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
