namespace HiveMind.Apps.QuickSort;

/// <summary>An order-independent fingerprint of a multiset of ints: count, sum and a sum of mixed values.</summary>
internal readonly record struct Checksum(long Count, long Sum, ulong Mixed)
{
    public static Checksum Of(ReadOnlySpan<int> values)
    {
        long sum = 0;
        ulong mixed = 0;
        foreach (var value in values)
        {
            sum += value;
            mixed += Mix((ulong)(uint)value);
        }

        return new Checksum(values.Length, sum, mixed);
    }

    public override string ToString() => $"count {Count}, sum {Sum}, mix 0x{Mixed:X16}";

    // SplitMix64 finalizer: a sum of well-mixed values changes when any element does.
    private static ulong Mix(ulong x)
    {
        x += 0x9E37_79B9_7F4A_7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return x ^ (x >> 31);
    }
}
