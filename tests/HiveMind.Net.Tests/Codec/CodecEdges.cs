namespace HiveMind.Net.Tests.Codec;

/// <summary>The values at every width edge of the MessagePack formats, shared by the edge, hostile and python tests.</summary>
internal static class CodecEdges
{
    public static readonly long[] Signed =
    [
        0, 127, 128, 255, 256, 32767, 32768, 65535, 65536, int.MaxValue, 2147483648, uint.MaxValue, 1L << 32, long.MaxValue,
        -1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769, int.MinValue, int.MinValue - 1L, long.MinValue,
    ];

    public static readonly ulong[] Unsigned =
    [
        0, 127, 128, 255, 256, 65535, 65536, uint.MaxValue, 1UL << 32, long.MaxValue, (ulong)long.MaxValue + 1, ulong.MaxValue,
    ];

    public static readonly double[] Doubles =
    [
        0.0, -0.0, 1.5, -1.0 / 3, Math.PI, double.MaxValue, double.MinValue, double.Epsilon, 2.2250738585072014E-308,
        double.PositiveInfinity, double.NegativeInfinity, double.NaN, BitConverter.UInt64BitsToDouble(0x7FF8000000000000),
    ];

    public static readonly int[] StrLengths = [0, 1, 31, 32, 255, 256, 65535, 65536];

    public static readonly int[] BinLengths = [0, 1, 255, 256, 65535, 65536];

    public static readonly int[] Counts = [0, 1, 15, 16, 65535, 65536];

    /// <summary>Text whose UTF-8 length differs from its char count: 2-, 3- and 4-byte sequences.</summary>
    public static readonly string[] MultiByteTexts =
    [
        "héllo wörld ✓ 🐝",
        string.Concat(Enumerable.Repeat("é", 16)),
        string.Concat(Enumerable.Repeat("✓", 85)),
        string.Concat(Enumerable.Repeat("🐝", 64)),
        string.Concat(Enumerable.Repeat("✓", 21845)),
        string.Concat(Enumerable.Repeat("🐝", 16384)),
    ];

    /// <summary>Printable ASCII of the given length, varied so that a shifted payload does not compare equal.</summary>
    public static string Ascii(int length) => string.Create(length, 0, static (span, _) =>
    {
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = (char)('!' + i * 7 % 94);
        }
    });

    public static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)(i * 31 + (i >> 8));
        }

        return bytes;
    }

    /// <summary>Elements that mix positive and negative fixint, int 8, uint 8 and uint 16.</summary>
    public static MsgValue ArrayOf(int count) =>
        MsgValue.Array([.. Enumerable.Range(0, count).Select(i => MsgValue.Of((long)(i % 300) - 40))]);

    /// <summary>Distinct int keys, so python's dict keeps every pair in order; values cycle nil, bool, str.</summary>
    public static MsgValue MapOf(int count) =>
        MsgValue.Map([.. Enumerable.Range(0, count).SelectMany(i => new[]
        {
            MsgValue.Of((long)i),
            (i % 3) switch
            {
                0 => MsgValue.Nil,
                1 => MsgValue.Of(i % 2 == 0),
                _ => MsgValue.Str("v"),
            },
        })]);

    public static MsgValue Nested() =>
        MsgValue.Array(
            MsgValue.Map(MsgValue.Str("page"), MsgValue.Of(4096L), MsgValue.Str("diff"), MsgValue.Bin(Pattern(40))),
            MsgValue.Array(),
            MsgValue.Map(),
            MsgValue.Array(MsgValue.Array(MsgValue.Array(MsgValue.Of(-1L), MsgValue.Nil))),
            MsgValue.Of(1.5));

    /// <summary>Every edge value, one per frame.</summary>
    public static List<MsgValue> All()
    {
        var values = new List<MsgValue> { MsgValue.Nil, MsgValue.Of(true), MsgValue.Of(false) };
        values.AddRange(Signed.Select(MsgValue.Of));
        values.AddRange(Unsigned.Select(MsgValue.Of));
        values.AddRange(Doubles.Select(MsgValue.Of));
        values.AddRange(StrLengths.Select(n => MsgValue.Str(Ascii(n))));
        values.AddRange(MultiByteTexts.Select(MsgValue.Str));
        values.AddRange(BinLengths.Select(n => MsgValue.Bin(Pattern(n))));
        values.AddRange(Counts.Select(ArrayOf));
        values.AddRange(Counts.Select(MapOf));
        values.Add(Nested());
        return values;
    }
}
