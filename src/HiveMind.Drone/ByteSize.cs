using System.Globalization;

namespace HiveMind;

/// <summary>Parses byte counts such as <c>4096</c>, <c>64KiB</c>, <c>16MiB</c>, <c>1GiB</c> (also KB/MB/GB and K/M/G, all binary).</summary>
internal static class ByteSize
{
    private static readonly (string Suffix, long Factor)[] Suffixes =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
        ("KB", 1L << 10), ("MB", 1L << 20), ("GB", 1L << 30), ("TB", 1L << 40),
        ("K", 1L << 10), ("M", 1L << 20), ("G", 1L << 30), ("T", 1L << 40),
    ];

    /// <summary>The byte count of <paramref name="text"/>; throws <see cref="OptionsException"/> naming <paramref name="option"/>.</summary>
    public static long Parse(string? text, string option)
    {
        var value = text?.Trim() ?? string.Empty;
        long factor = 1;
        foreach (var (suffix, f) in Suffixes)
        {
            if (value.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                value = value[..^suffix.Length].Trim();
                factor = f;
                break;
            }
        }

        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number <= 0)
        {
            throw new OptionsException($"{option}: '{text}' is not a positive byte count (examples: 4096, 64KiB, 1GiB).");
        }

        try
        {
            return checked(number * factor);
        }
        catch (OverflowException)
        {
            throw new OptionsException($"{option}: '{text}' is too large.");
        }
    }
}
