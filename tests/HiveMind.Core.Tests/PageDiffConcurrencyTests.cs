using HiveMind.Diffs;
using HiveMind.Native;

namespace HiveMind.Core.Tests;

public sealed unsafe class PageDiffConcurrencyTests
{
    private const int PageSize = 4096;

    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, 2)]
    [InlineData(true, 3)]
    public void Encode_WhileAnotherThreadWrites_LosesNoWrite(bool scalar, int seed)
    {
        using var page = NativeBlock.AllocateZeroed(PageSize);
        using var twin = NativeBlock.AllocateZeroed(PageSize);
        using var replica = NativeBlock.AllocateZeroed(PageSize);
        var buffer = new byte[PageDiff.MaxEncodedLength(PageSize)];
        using var writerStarted = new ManualResetEventSlim();
        var stop = 0;
        long writes = 0;

        // The writer mixes int stores, single-byte stores and long runs, so some land inside a vector
        // that the encoder is reading, and some straddle two vectors.
        var writer = new Thread(() =>
        {
            var rng = new Random(seed);
            var words = (int*)page.Pointer;
            writerStarted.Set();
            for (var k = 1; Volatile.Read(ref stop) == 0; k++)
            {
                switch (k % 3)
                {
                    case 0:
                        Volatile.Write(ref words[rng.Next(PageSize / 4)], k);
                        break;
                    case 1:
                        Volatile.Write(ref page.Pointer[rng.Next(PageSize)], (byte)k);
                        break;
                    default:
                        var start = rng.Next(PageSize / 4 - 40);
                        for (var i = 0; i < 40; i++)
                        {
                            Volatile.Write(ref words[start + i], k + i);
                        }

                        break;
                }

                writes++;
            }
        });

        writer.Start();
        Assert.True(writerStarted.Wait(TimeSpan.FromSeconds(10)), "the writer thread did not start within 10 s");
        var diffs = 0L;
        var nonEmpty = 0;
        // Diff until enough of them met concurrent writes. Bounded by time, not by count: on a loaded machine the
        // writer may get little CPU for a while; one that never runs still fails below.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        for (; nonEmpty < 2_000 && (diffs % 4096 != 0 || DateTime.UtcNow < deadline); diffs++)
        {
            var length = Encode(scalar, page, twin, buffer);
            nonEmpty += length > 0 ? 1 : 0;
            PageDiff.Apply(buffer.AsSpan(0, length), replica.Pointer, PageSize);
        }

        Volatile.Write(ref stop, 1);
        Assert.True(writer.Join(TimeSpan.FromSeconds(10)), "the writer thread did not stop within 10 s of being told");

        // The last diff, taken with the writer stopped, carries whatever the racing diffs did not.
        var last = Encode(scalar, page, twin, buffer);
        PageDiff.Apply(buffer.AsSpan(0, last), replica.Pointer, PageSize);

        Assert.True(nonEmpty >= 2_000, $"only {nonEmpty} of {diffs} diffs in 60 s saw writes ({writes} writes): the race was not exercised");
        PageDiffTests.AssertSame(page, replica, PageSize, $"replica after {diffs} racing diffs and {writes} writes (seed {seed}, scalar {scalar})");
        PageDiffTests.AssertSame(page, twin, PageSize, "twin after the last diff");
    }

    private static int Encode(bool scalar, NativeBlock page, NativeBlock twin, byte[] buffer) =>
        scalar
            ? PageDiff.EncodeScalar(page.Pointer, twin.Pointer, PageSize, buffer)
            : PageDiff.Encode(page.Pointer, twin.Pointer, PageSize, buffer);
}
