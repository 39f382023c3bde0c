using FsCheck.Fluent;
using HiveMind.Diffs;
using HiveMind.Native;

namespace HiveMind.Core.Tests;

public sealed unsafe class PageDiffTests
{
    public enum Pattern
    {
        None,
        OneWord,
        EveryWord,
        RunAtStart,
        RunAtEnd,
        RunsAtBothEnds,
        SparseRandom,
        DenseRandom,
        AlternatingBytes,
        LastByteOnly,
    }

    public static TheoryData<int, Pattern> Cases()
    {
        var data = new TheoryData<int, Pattern>();
        foreach (var size in new[] { 4096, 65536 })
        {
            foreach (var pattern in Enum.GetValues<Pattern>())
            {
                data.Add(size, pattern);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EncodeApply_Pattern_ReproducesPage(int pageSize, Pattern pattern)
    {
        for (var seed = 0; seed < 20; seed++)
        {
            RoundTrip(pageSize, pattern, seed);
        }
    }

    [Fact]
    public void EncodeApply_RandomPagesAndPatterns_ReproducesPage()
    {
        var generator =
            from size in Gen.Elements(64, 4096, 65536, 100, 4099, 7)
            from pattern in Gen.Elements(Enum.GetValues<Pattern>())
            from seed in Gen.Choose(0, int.MaxValue)
            select (size, pattern, seed);
        PropertyCheck.Holds(generator, c => RoundTrip(c.size, c.pattern, c.seed), maxTest: 300);
    }

    [Fact]
    public void Encode_UnchangedPage_IsEmpty()
    {
        using var twin = Filled(4096, 1);
        using var page = Filled(4096, 1);
        var diff = new byte[PageDiff.MaxEncodedLength(4096)];
        Assert.Equal(0, PageDiff.Encode(page.Pointer, twin.Pointer, 4096, diff));
    }

    [Fact]
    public void Encode_OneChangedInt_EmitsOnlyChangedBytes()
    {
        using var twin = Filled(4096, 0);
        using var page = Filled(4096, 0);
        ((int*)page.Pointer)[100] = 0x00AB_0000; // only byte 402 differs
        var diff = new byte[PageDiff.MaxEncodedLength(4096)];
        var length = PageDiff.Encode(page.Pointer, twin.Pointer, 4096, diff);
        Assert.Equal(1, PageDiff.ChangedBytes(diff.AsSpan(0, length)));
        Assert.Equal(new byte[] { 0x92, 0x03, 0x01, 0xAB }, diff.AsSpan(0, length).ToArray()); // skip 402, length 1, 0xAB
    }

    [Fact]
    public void Apply_Twice_IsHarmless()
    {
        using var twin = Random(4096, 3);
        using var page = Copy(twin, 4096);
        Mutate(page.Pointer, 4096, Pattern.SparseRandom, new Random(3));
        using var target = Copy(twin, 4096);
        var diff = Encode(page, twin, 4096);
        PageDiff.Apply(diff, target.Pointer, 4096);
        PageDiff.Apply(diff, target.Pointer, 4096);
        AssertSame(page, target, 4096, "page after applying the diff twice");
    }

    [Fact]
    public void Apply_MalformedDiffs_ThrowAndChangeNothing()
    {
        var rng = new Random(12345);
        using var page = Random(4096, 9);
        using var before = Copy(page, 4096);
        var rejected = 0;
        for (var i = 0; i < 5000; i++)
        {
            var bytes = new byte[rng.Next(0, 64)];
            rng.NextBytes(bytes);
            try
            {
                PageDiff.Validate(bytes, 4096);
            }
            catch (InvalidDataException)
            {
                rejected++;
                Assert.Throws<InvalidDataException>(() => PageDiff.Apply(bytes, page.Pointer, 4096));
                AssertSame(before, page, 4096, $"page after a rejected diff #{i} ({Convert.ToHexString(bytes)})");
                continue;
            }

            // Valid by chance: it must apply within the page.
            PageDiff.Apply(bytes, page.Pointer, 4096);
            Unsafe.CopyBlock(before.Pointer, page.Pointer, 4096);
        }

        Assert.True(rejected > 1000, $"only {rejected} of 5000 random diffs were rejected");
    }

    [Theory]
    [InlineData(new byte[] { 0x00, 0x05, 0x01 }, "needs 5 data bytes")]
    [InlineData(new byte[] { 0x80, 0x20, 0x01, 0xFF }, "beyond the page end")]
    [InlineData(new byte[] { 0x00, 0x00 }, "is empty")]
    [InlineData(new byte[] { 0x80 }, "truncated or overlong")]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, "truncated or overlong")]
    public void Validate_BadDiff_NamesTheProblem(byte[] diff, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => PageDiff.Validate(diff, 4096));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Encode_DestinationTooSmall_Throws()
    {
        using var twin = Filled(4096, 0);
        using var page = Filled(4096, 1);
        var error = Assert.Throws<ArgumentException>(() => PageDiff.Encode(page.Pointer, twin.Pointer, 4096, new byte[100]));
        Assert.Contains("may need", error.Message, StringComparison.Ordinal);
    }

    private static void RoundTrip(int size, Pattern pattern, int seed)
    {
        var rng = new Random(seed);
        using var twin = Random(size, seed);
        using var page = Copy(twin, size);
        Mutate(page.Pointer, size, pattern, rng);
        using var original = Copy(twin, size);
        using var scalarTwin = Copy(twin, size);
        var changed = 0;
        for (var i = 0; i < size; i++)
        {
            changed += page.Pointer[i] != twin.Pointer[i] ? 1 : 0;
        }

        var diff = Encode(page, twin, size);
        var context = $"page size {size}, pattern {pattern}, seed {seed}";
        Assert.True(changed == PageDiff.ChangedBytes(diff), $"{context}: diff carries {PageDiff.ChangedBytes(diff)} bytes, {changed} changed");
        AssertSame(page, twin, size, $"{context}: twin after encode");

        var scalar = new byte[PageDiff.MaxEncodedLength(size)];
        var scalarLength = PageDiff.EncodeScalar(page.Pointer, scalarTwin.Pointer, size, scalar);
        Assert.True(diff.AsSpan().SequenceEqual(scalar.AsSpan(0, scalarLength)), $"{context}: vector and scalar encoders disagree");

        PageDiff.Apply(diff, original.Pointer, size);
        AssertSame(page, original, size, $"{context}: twin + diff");
    }

    internal static byte[] Encode(NativeBlock page, NativeBlock twin, int size)
    {
        var buffer = new byte[PageDiff.MaxEncodedLength(size)];
        var length = PageDiff.Encode(page.Pointer, twin.Pointer, size, buffer);
        return buffer.AsSpan(0, length).ToArray();
    }

    internal static void Mutate(byte* page, int size, Pattern pattern, Random rng)
    {
        var words = size / 4;
        switch (pattern)
        {
            case Pattern.None:
                break;
            case Pattern.OneWord:
                if (words > 0)
                {
                    ((uint*)page)[rng.Next(words)] ^= (uint)rng.Next(1, int.MaxValue);
                }

                break;
            case Pattern.EveryWord:
                for (var i = 0; i < size; i++)
                {
                    page[i] ^= (byte)rng.Next(1, 256);
                }

                break;
            case Pattern.RunAtStart:
                Flip(page, 0, rng.Next(1, size + 1));
                break;
            case Pattern.RunAtEnd:
                var startAt = rng.Next(0, size);
                Flip(page, startAt, size - startAt);
                break;
            case Pattern.RunsAtBothEnds:
                var head = rng.Next(1, (size / 2) + 1);
                var tail = rng.Next(1, (size / 2) + 1);
                Flip(page, 0, head);
                Flip(page, size - tail, tail);
                break;
            case Pattern.SparseRandom:
                for (var i = 0; i < Math.Max(1, words / 100); i++)
                {
                    Flip(page, rng.Next(size), 1);
                }

                break;
            case Pattern.DenseRandom:
                for (var i = 0; i < size; i++)
                {
                    if (rng.Next(3) == 0)
                    {
                        page[i] ^= 0x5A;
                    }
                }

                break;
            case Pattern.AlternatingBytes:
                for (var i = rng.Next(2); i < size; i += 2)
                {
                    page[i] ^= 0xFF;
                }

                break;
            case Pattern.LastByteOnly:
                page[size - 1] ^= 0x01;
                break;
        }
    }

    private static void Flip(byte* page, int start, int count)
    {
        for (var i = start; i < start + count; i++)
        {
            page[i] = (byte)~page[i];
        }
    }

    internal static NativeBlock Filled(int size, byte value)
    {
        var block = NativeBlock.AllocateZeroed((nuint)size);
        new Span<byte>(block.Pointer, size).Fill(value);
        return block;
    }

    internal static NativeBlock Random(int size, int seed)
    {
        var block = NativeBlock.AllocateZeroed((nuint)size);
        new Random(seed).NextBytes(new Span<byte>(block.Pointer, size));
        return block;
    }

    internal static NativeBlock Copy(NativeBlock source, int size)
    {
        var block = NativeBlock.AllocateZeroed((nuint)size);
        Unsafe.CopyBlock(block.Pointer, source.Pointer, (uint)size);
        return block;
    }

    internal static void AssertSame(NativeBlock expected, NativeBlock actual, int size, string what)
    {
        var a = new ReadOnlySpan<byte>(expected.Pointer, size);
        var b = new ReadOnlySpan<byte>(actual.Pointer, size);
        var at = a.CommonPrefixLength(b);
        Assert.True(at == size, $"{what}: byte {at} is 0x{(at < size ? b[at] : 0):X2}, expected 0x{(at < size ? a[at] : 0):X2}");
    }
}
