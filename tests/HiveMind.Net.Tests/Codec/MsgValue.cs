using System.Buffers;
using System.Globalization;
using System.Text;
using HiveMind.Net.Codec;
using MessagePack;

namespace HiveMind.Net.Tests.Codec;

internal delegate void WriteAction(ref MessagePackWriter writer);

internal enum MsgKind
{
    Nil,
    Boolean,
    Signed,
    Unsigned,
    Float,
    String,
    Binary,
    Array,
    Map,
}

/// <summary>
/// A MessagePack value as the tests model it: written through MessagePack-CSharp's writer, read back through its
/// reader and HiveMind's strict reads (<see cref="MessagePackReading"/>), and described in the same line format as the
/// python cross-check prints.
/// </summary>
internal sealed class MsgValue
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private MsgValue(MsgKind kind) => Kind = kind;

    public static MsgValue Nil { get; } = new(MsgKind.Nil);

    public MsgKind Kind { get; }

    public bool Boolean { get; private init; }

    public long Signed { get; private init; }

    public ulong Unsigned { get; private init; }

    public double Float { get; private init; }

    /// <summary>UTF-8 bytes of a str, or the payload of a bin.</summary>
    public byte[] Bytes { get; private init; } = [];

    /// <summary>Set when the str goes through the writer's char overload rather than the UTF-8 one.</summary>
    public string? Text { get; private init; }

    /// <summary>Array elements, or map keys and values interleaved.</summary>
    public MsgValue[] Items { get; private init; } = [];

    public static MsgValue Of(bool value) => new(MsgKind.Boolean) { Boolean = value };

    public static MsgValue Of(long value) => new(MsgKind.Signed) { Signed = value };

    public static MsgValue Of(ulong value) => new(MsgKind.Unsigned) { Unsigned = value };

    public static MsgValue Of(double value) => new(MsgKind.Float) { Float = value };

    public static MsgValue Str(string text) => new(MsgKind.String) { Text = text, Bytes = StrictUtf8.GetBytes(text) };

    public static MsgValue StrUtf8(byte[] utf8) => new(MsgKind.String) { Bytes = utf8 };

    public static MsgValue Bin(byte[] bytes) => new(MsgKind.Binary) { Bytes = bytes };

    public static MsgValue Array(params MsgValue[] items) => new(MsgKind.Array) { Items = items };

    public static MsgValue Map(params MsgValue[] keysAndValues)
    {
        if (keysAndValues.Length % 2 != 0)
        {
            throw new ArgumentException($"A map needs keys and values in pairs, not {keysAndValues.Length} item(s).");
        }

        return new MsgValue(MsgKind.Map) { Items = keysAndValues };
    }

    /// <summary>Short name for assertion messages: the type, the value or the length.</summary>
    public string Label => Kind switch
    {
        MsgKind.Nil => "nil",
        MsgKind.Boolean => Boolean ? "true" : "false",
        MsgKind.Signed => $"int {Signed}",
        MsgKind.Unsigned => $"int {Unsigned}",
        MsgKind.Float => $"float {Float.ToString("R", CultureInfo.InvariantCulture)}",
        MsgKind.String => $"str of {Bytes.Length} byte(s)",
        MsgKind.Binary => $"bin of {Bytes.Length} byte(s)",
        MsgKind.Array => $"array of {Items.Length}",
        _ => $"map of {Items.Length / 2}",
    };

    public static byte[] Encode(WriteAction write)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        write(ref writer);
        writer.Flush();
        return output.WrittenSpan.ToArray();
    }

    public static byte[] Encode(IEnumerable<MsgValue> values, IBufferWriter<byte>? output = null)
    {
        var buffer = output ?? new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        foreach (var value in values)
        {
            value.Write(ref writer);
        }

        writer.Flush();
        return buffer switch
        {
            ArrayBufferWriter<byte> array => array.WrittenSpan.ToArray(),
            ChunkedBufferWriter chunked => chunked.ToArray(),
            _ => throw new ArgumentException($"Unknown output {buffer.GetType().Name}."),
        };
    }

    public byte[] Encode() => Encode([this]);

    /// <summary>
    /// Reads any value, choosing the reader method from <see cref="MessagePackReader.NextMessagePackType"/>; ext types and
    /// 0xC1, which HiveMind never reads, throw as <see cref="MessagePackReading.SkipValue"/> refuses them.
    /// </summary>
    public static MsgValue Read(ref MessagePackReader reader)
    {
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                return Nil;
            case MessagePackType.Boolean:
                return Of(reader.ReadBoolean());
            case MessagePackType.Integer:
                // Only uint 64 holds values above long.MaxValue.
                return reader.NextCode == MessagePackCode.UInt64 ? Of(reader.ReadUInt64()) : Of(reader.ReadInt64());
            case MessagePackType.Float:
                return Of(reader.ReadDouble());
            case MessagePackType.String:
                return StrUtf8(reader.ReadStringUtf8().ToArray());
            case MessagePackType.Binary:
                return Bin(reader.ReadBinary().ToArray());
            case MessagePackType.Map:
                var pairs = new MsgValue[reader.ReadMapHeader() * 2];
                for (var i = 0; i < pairs.Length; i++)
                {
                    pairs[i] = Read(ref reader);
                }

                return Map(pairs);
            case MessagePackType.Array:
                var elements = new MsgValue[reader.ReadArrayHeader()];
                for (var i = 0; i < elements.Length; i++)
                {
                    elements[i] = Read(ref reader);
                }

                return Array(elements);
            default:
                reader.SkipValue();
                throw new InvalidOperationException($"SkipValue took the value at offset {reader.Consumed}, which is of no type HiveMind reads.");
        }
    }

    public static List<MsgValue> ReadAll(ReadOnlyMemory<byte> bytes)
    {
        var reader = new MessagePackReader(bytes);
        var values = new List<MsgValue>();
        while (!reader.End)
        {
            values.Add(Read(ref reader));
        }

        return values;
    }

    public void Write(ref MessagePackWriter writer)
    {
        switch (Kind)
        {
            case MsgKind.Nil:
                writer.WriteNil();
                break;
            case MsgKind.Boolean:
                writer.Write(Boolean);
                break;
            case MsgKind.Signed:
                writer.Write(Signed);
                break;
            case MsgKind.Unsigned:
                writer.Write(Unsigned);
                break;
            case MsgKind.Float:
                writer.Write(Float);
                break;
            case MsgKind.String when Text is not null:
                writer.Write(Text);
                break;
            case MsgKind.String:
                writer.WriteString(Bytes);
                break;
            case MsgKind.Binary:
                writer.Write(Bytes.AsSpan());
                break;
            case MsgKind.Array:
                writer.WriteArrayHeader(Items.Length);
                foreach (var item in Items)
                {
                    item.Write(ref writer);
                }

                break;
            default:
                writer.WriteMapHeader(Items.Length / 2);
                foreach (var item in Items)
                {
                    item.Write(ref writer);
                }

                break;
        }
    }

    /// <summary>
    /// Appends the canonical description: one line per value in preorder, containers as their count. Integers print
    /// as decimals, floats as their IEEE bits, str and bin as lowercase hex; python prints the same lines.
    /// </summary>
    public void Describe(List<string> lines)
    {
        switch (Kind)
        {
            case MsgKind.Nil:
                lines.Add("nil");
                break;
            case MsgKind.Boolean:
                lines.Add(Boolean ? "bool:true" : "bool:false");
                break;
            case MsgKind.Signed:
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"int:{Signed}"));
                break;
            case MsgKind.Unsigned:
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"int:{Unsigned}"));
                break;
            case MsgKind.Float:
                lines.Add("float:" + BitConverter.DoubleToUInt64Bits(Float).ToString("x16", CultureInfo.InvariantCulture));
                break;
            case MsgKind.String:
                lines.Add("str:" + Convert.ToHexStringLower(Bytes));
                break;
            case MsgKind.Binary:
                lines.Add("bin:" + Convert.ToHexStringLower(Bytes));
                break;
            case MsgKind.Array:
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"array:{Items.Length}"));
                foreach (var item in Items)
                {
                    item.Describe(lines);
                }

                break;
            default:
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"map:{Items.Length / 2}"));
                foreach (var item in Items)
                {
                    item.Describe(lines);
                }

                break;
        }
    }

    public static List<string> Describe(IEnumerable<MsgValue> values)
    {
        var lines = new List<string>();
        foreach (var value in values)
        {
            value.Describe(lines);
        }

        return lines;
    }

    public override string ToString() => Label;

    /// <summary>Fails naming the value and the first line of the description that differs.</summary>
    public static void AssertSame(IReadOnlyList<MsgValue> expected, IReadOnlyList<MsgValue> actual, string context)
    {
        Assert.True(
            expected.Count == actual.Count,
            $"{context}: expected {expected.Count} value(s) but decoded {actual.Count}.");
        for (var i = 0; i < expected.Count; i++)
        {
            AssertLines(Describe([expected[i]]), Describe([actual[i]]), $"{context}: value #{i} ({expected[i].Label})");
        }
    }

    public static void AssertLines(IReadOnlyList<string> expected, IReadOnlyList<string> actual, string context)
    {
        for (var line = 0; line < Math.Min(expected.Count, actual.Count); line++)
        {
            if (expected[line] != actual[line])
            {
                Assert.Fail($"{context}: line {line} of the description is '{Shorten(actual[line])}', expected '{Shorten(expected[line])}'.");
            }
        }

        Assert.True(
            expected.Count == actual.Count,
            $"{context}: the description has {actual.Count} line(s), expected {expected.Count}.");
    }

    public static string Hex(ReadOnlySpan<byte> bytes) => Shorten(Convert.ToHexStringLower(bytes));

    private static string Shorten(string text) => text.Length <= 80 ? text : $"{text[..40]}...{text[^20..]} ({text.Length} chars)";
}
