namespace HiveMind.Apps.QuickSort;

/// <summary>
/// The QuickSort step shared by the drones and by the sequential baseline, so that both run the same
/// algorithm: Hoare partition around a median-of-three pivot, and a local sort below the threshold.
/// </summary>
internal static class Partitioner
{
    /// <summary>
    /// Partitions <paramref name="span"/> so that every element of [0, split) is at most every element of
    /// [split, length); both sides are non-empty. Needs at least two elements.
    /// </summary>
    public static int Partition(Span<int> span)
    {
        var last = span.Length - 1;
        var mid = last / 2;
        SortPair(span, 0, mid);
        SortPair(span, mid, last);
        SortPair(span, 0, mid);
        var pivot = span[mid];
        var i = -1;
        var j = span.Length;
        while (true)
        {
            do
            {
                i++;
            }
            while (span[i] < pivot);

            do
            {
                j--;
            }
            while (span[j] > pivot);

            if (i >= j)
            {
                return j + 1;
            }

            (span[i], span[j]) = (span[j], span[i]);
        }
    }

    /// <summary>Sorts a range at or below the threshold.</summary>
    public static void SortLocal(Span<int> span) => span.Sort();

    /// <summary>The sequential baseline: the same steps, with a local stack instead of the shared queue.</summary>
    public static void SortSequential(int[] data, int threshold)
    {
        var pending = new Stack<(int Lo, int Hi)>();
        pending.Push((0, data.Length));
        while (pending.TryPop(out var range))
        {
            var (lo, hi) = range;
            while (hi - lo > threshold)
            {
                var split = lo + Partition(data.AsSpan(lo, hi - lo));
                if (split - lo < hi - split)
                {
                    pending.Push((split, hi));
                    hi = split;
                }
                else
                {
                    pending.Push((lo, split));
                    lo = split;
                }
            }

            SortLocal(data.AsSpan(lo, hi - lo));
        }
    }

    private static void SortPair(Span<int> span, int a, int b)
    {
        if (span[b] < span[a])
        {
            (span[a], span[b]) = (span[b], span[a]);
        }
    }
}
