using HiveMind.Net.Transport;

namespace HiveMind.Net.Tests.Transport;

/// <summary>The copies a link keeps for a new connection: each stays intact until it is dropped, whatever chunks are reused under it.</summary>
public sealed class KeptFramesTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AddAndTrim_AtRandom_EveryKeptCopyStaysIntact(int seed)
    {
        var random = new Random(seed);
        var kept = new Link.KeptFrames();
        ulong last = 0;
        var sizes = new[] { 29, 4110, 65_000, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 2 << 20 };
        for (var step = 0; step < 600; step++)
        {
            if (random.Next(3) > 0)
            {
                var size = random.Next(4) == 0 ? sizes[random.Next(sizes.Length)] : random.Next(16, 9000);
                var frame = new byte[size];
                last++;
                Fill(frame, last);
                kept.Add(frame, (byte)(last % 200));
            }
            else if (kept.Count > 0)
            {
                kept.TrimThrough(kept.FirstSeq(last) + (ulong)random.Next(kept.Count), last);
            }

            for (var seq = kept.FirstSeq(last); seq <= last; seq++)
            {
                var copy = kept.Get(seq, last);
                Assert.True(copy.Kind == (byte)(seq % 200), $"step {step}: frame {seq} kept as kind {copy.Kind}");
                var expected = new byte[copy.Bytes.Length];
                Fill(expected, seq);
                Assert.True(copy.Bytes.Span.SequenceEqual(expected), $"step {step}: the copy of frame {seq} ({copy.Bytes.Length} bytes) changed while kept");
            }
        }
    }

    private static void Fill(byte[] frame, ulong seq)
    {
        for (var i = 0; i < frame.Length; i++)
        {
            frame[i] = (byte)((seq * 31) + (ulong)i);
        }
    }
}
