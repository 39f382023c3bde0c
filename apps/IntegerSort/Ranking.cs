namespace HiveMind.Apps.IntegerSort;

/// <summary>
/// The integer sort of TreadMarks' suite (NAS IS): keys in [0, max-key) are ranked by bucket counts. A key's rank is the
/// number of keys below it, the same for the drones (histograms of their slices, summed) and for the sequential baseline.
/// Iteration <c>it</c> ranks the keys with <c>it</c> added to each (modulo max-key), so that every ranking differs.
/// </summary>
internal static class Ranking
{
    /// <summary>The base key at <paramref name="index"/>: deterministic, roughly uniform, the same wherever it is computed.</summary>
    public static int Key(int index, int maxKey, int seed)
    {
        var h = (uint)((index * 0x9E3779B1) ^ (seed * 0x85EBCA77));
        h ^= h >> 16;
        h *= 0x7FEB352D;
        h ^= h >> 15;
        return (int)(h % (uint)maxKey);
    }

    /// <summary>The key at <paramref name="index"/> in iteration <paramref name="iteration"/>.</summary>
    public static int KeyIn(ReadOnlySpan<int> keys, int index, int iteration, int maxKey) => (int)((keys[index] + (long)iteration) % maxKey);

    /// <summary>Counts the keys of <paramref name="keys"/> (in iteration <paramref name="iteration"/>) per bucket, into <paramref name="histogram"/>.</summary>
    public static void Histogram(ReadOnlySpan<int> keys, int iteration, int maxKey, Span<int> histogram)
    {
        histogram.Clear();
        for (var i = 0; i < keys.Length; i++)
        {
            histogram[KeyIn(keys, i, iteration, maxKey)]++;
        }
    }

    /// <summary>Turns bucket counts into the number of keys below each bucket.</summary>
    public static void Below(ReadOnlySpan<int> counts, Span<int> below)
    {
        var sum = 0;
        for (var b = 0; b < counts.Length; b++)
        {
            below[b] = sum;
            sum += counts[b];
        }
    }

    /// <summary>Ranks <paramref name="keys"/> (iteration <paramref name="iteration"/>) into <paramref name="ranks"/>.</summary>
    public static void Rank(ReadOnlySpan<int> keys, int iteration, int maxKey, ReadOnlySpan<int> below, Span<int> ranks)
    {
        for (var i = 0; i < keys.Length; i++)
        {
            ranks[i] = below[KeyIn(keys, i, iteration, maxKey)];
        }
    }

    /// <summary>The sequential baseline: iterations <paramref name="from"/>.. <paramref name="to"/> − 1 over all keys; the last ranks are left in <paramref name="ranks"/>.</summary>
    public static void Sequential(int[] keys, int maxKey, int from, int to, int[] ranks)
    {
        var histogram = new int[maxKey];
        var below = new int[maxKey];
        for (var it = from; it < to; it++)
        {
            Histogram(keys, it, maxKey, histogram);
            Below(histogram, below);
            Rank(keys, it, maxKey, below, ranks);
        }
    }

    /// <summary>The slice [first, end) of the keys drone <paramref name="drone"/> of <paramref name="drones"/> ranks.</summary>
    public static (int First, int End) Slice(int keys, int drones, int drone) =>
        ((int)((long)keys * drone / drones), (int)((long)keys * (drone + 1) / drones));
}
