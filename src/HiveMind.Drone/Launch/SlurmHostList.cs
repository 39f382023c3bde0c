using System.Globalization;
using System.Text;

namespace HiveMind.Launch;

/// <summary>
/// Slurm's compressed host lists (<c>SLURM_STEP_NODELIST</c>, <c>SLURM_JOB_NODELIST</c>): names separated by commas,
/// where a bracket holds numbers and ranges with their zero padding, as in <c>node[01-04,07],gpu5,rack[1-2]-n[1-3]</c>.
/// </summary>
internal static class SlurmHostList
{
    /// <summary>
    /// The first host of <paramref name="list"/> (the node of task 0 under Slurm's block and cyclic distributions): each
    /// bracket replaced by its first number. Throws <see cref="FormatException"/> naming the list when it is malformed.
    /// </summary>
    public static string First(string list)
    {
        ArgumentNullException.ThrowIfNull(list);
        var first = Expand(list, limit: 1);
        return first[0];
    }

    /// <summary>
    /// Every host of <paramref name="list"/>, in order, at most <paramref name="limit"/> of them. Throws
    /// <see cref="FormatException"/> naming the list when it is malformed (an empty name, an unclosed bracket, a range
    /// that runs backwards).
    /// </summary>
    public static IReadOnlyList<string> Expand(string list, int limit = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(list);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var hosts = new List<string>();
        foreach (var name in SplitTopLevel(list))
        {
            if (name.Length == 0)
            {
                throw Malformed(list, "an empty host name");
            }

            Expand(list, name, 0, new StringBuilder(), hosts, limit);
            if (hosts.Count >= limit)
            {
                break;
            }
        }

        return hosts.Count > 0 ? hosts : throw Malformed(list, "no host");
    }

    private static void Expand(string list, string name, int at, StringBuilder prefix, List<string> hosts, int limit)
    {
        var open = name.IndexOf('[', at);
        if (open < 0)
        {
            hosts.Add(prefix.Append(name, at, name.Length - at).ToString());
            return;
        }

        var close = name.IndexOf(']', open);
        if (close < 0 || name.IndexOf('[', open + 1) is var nested && nested >= 0 && nested < close)
        {
            throw Malformed(list, $"an unclosed bracket in '{name}'");
        }

        var head = prefix.Length;
        foreach (var item in name[(open + 1)..close].Split(','))
        {
            var dash = item.IndexOf('-', StringComparison.Ordinal);
            var low = dash < 0 ? item : item[..dash];
            var high = dash < 0 ? item : item[(dash + 1)..];
            if (!ulong.TryParse(low, NumberStyles.None, CultureInfo.InvariantCulture, out var from)
                || !ulong.TryParse(high, NumberStyles.None, CultureInfo.InvariantCulture, out var to) || to < from)
            {
                throw Malformed(list, $"'{item}' in '{name}' is not a number or a rising range");
            }

            for (var n = from; n <= to && hosts.Count < limit; n++)
            {
                prefix.Length = head;
                prefix.Append(name, at, open - at).Append(n.ToString(CultureInfo.InvariantCulture).PadLeft(low.Length, '0'));
                Expand(list, name, close + 1, prefix, hosts, limit);
            }

            if (hosts.Count >= limit)
            {
                return;
            }
        }
    }

    // The list's names: commas inside brackets separate numbers, not names.
    private static IEnumerable<string> SplitTopLevel(string list)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < list.Length; i++)
        {
            depth += list[i] switch { '[' => 1, ']' => -1, _ => 0 };
            if (list[i] == ',' && depth == 0)
            {
                yield return list[start..i].Trim();
                start = i + 1;
            }
        }

        yield return list[start..].Trim();
    }

    private static FormatException Malformed(string list, string why) => new($"Slurm host list '{list}': {why}.");
}
