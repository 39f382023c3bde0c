using System.Globalization;

namespace HiveMind;

/// <summary>Parses durations such as <c>90s</c>, <c>1500ms</c>, <c>5m</c>, <c>2h</c> (a bare number is seconds), or <c>none</c>.</summary>
internal static class Duration
{
    private static readonly (string Suffix, double Seconds)[] Suffixes = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)];

    /// <summary>
    /// The duration <paramref name="text"/> names, or null for <c>none</c> (no limit); throws <see cref="OptionsException"/>
    /// naming <paramref name="option"/>.
    /// </summary>
    public static TimeSpan? Parse(string? text, string option)
    {
        var value = text?.Trim() ?? string.Empty;
        if (value.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var seconds = 1.0;
        foreach (var (suffix, factor) in Suffixes)
        {
            if (value.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                value = value[..^suffix.Length].Trim();
                seconds = factor;
                break;
            }
        }

        if (!double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) || number <= 0 || number * seconds > TimeSpan.FromDays(365).TotalSeconds)
        {
            throw new OptionsException($"{option}: '{text}' is not a positive duration of at most a year, or none (examples: 90s, 1500ms, 5m, 2h).");
        }

        return TimeSpan.FromSeconds(number * seconds);
    }
}
