using System.Text;

namespace HiveMind.Consistency;

/// <summary>How two vector timestamps relate under happens-before.</summary>
internal enum VtOrder
{
    /// <summary>Every entry is equal.</summary>
    Equal,

    /// <summary>This one happens-before the other: no entry larger, at least one smaller.</summary>
    Before,

    /// <summary>The other happens-before this one.</summary>
    After,

    /// <summary>Neither dominates: each has an entry larger than the other's.</summary>
    Concurrent,
}

/// <summary>
/// A vector timestamp: entry i of drone i's own VT is its current interval index; entry j is the latest
/// interval of drone j that happens-before it. Mutable (<see cref="Merge"/>, <see cref="Set"/>), so copy with
/// <see cref="Clone"/> before storing one in an interval record.
/// </summary>
internal sealed class VectorTimestamp : IEquatable<VectorTimestamp>
{
    private readonly int[] _entries;

    /// <summary>A VT of <paramref name="drones"/> zero entries.</summary>
    public VectorTimestamp(int drones)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(drones);
        _entries = new int[drones];
    }

    /// <summary>A VT holding a copy of <paramref name="entries"/>.</summary>
    public VectorTimestamp(ReadOnlySpan<int> entries)
    {
        if (entries.IsEmpty)
        {
            throw new ArgumentException("A vector timestamp needs at least one entry.", nameof(entries));
        }

        foreach (var entry in entries)
        {
            if (entry < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(entries), entry, "Interval indices are never negative.");
            }
        }

        _entries = entries.ToArray();
    }

    /// <summary>Number of drones the VT spans.</summary>
    public int Count => _entries.Length;

    /// <summary>Entry of drone <paramref name="drone"/>.</summary>
    public int this[int drone] => _entries[drone];

    /// <summary>The entries, read-only.</summary>
    public ReadOnlySpan<int> Entries => _entries;

    /// <summary>Sets one entry; entries never go backwards.</summary>
    public void Set(int drone, int interval)
    {
        if (interval < _entries[drone])
        {
            throw new ArgumentOutOfRangeException(
                nameof(interval), interval, $"VT entry of drone {drone} would go back from {_entries[drone]}.");
        }

        _entries[drone] = interval;
    }

    /// <summary>Advances this drone's own entry: the next interval. Returns the new index.</summary>
    public int Increment(int drone) => ++_entries[drone];

    /// <summary>True if this VT knows interval <paramref name="interval"/> of drone <paramref name="drone"/>.</summary>
    public bool Covers(int drone, int interval) => _entries[drone] >= interval;

    /// <summary>True if every entry of this VT is at least the other's (this knows all the other knows).</summary>
    public bool Dominates(VectorTimestamp other)
    {
        CheckSameWidth(other);
        var a = _entries;
        var b = other._entries;
        for (var i = 0; i < a.Length; i++)
        {
            if (a[i] < b[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Relates this VT to <paramref name="other"/> under happens-before.</summary>
    public VtOrder Compare(VectorTimestamp other)
    {
        CheckSameWidth(other);
        var a = _entries;
        var b = other._entries;
        bool less = false, greater = false;
        for (var i = 0; i < a.Length; i++)
        {
            if (a[i] < b[i])
            {
                less = true;
            }
            else if (a[i] > b[i])
            {
                greater = true;
            }
        }

        return (less, greater) switch
        {
            (false, false) => VtOrder.Equal,
            (true, false) => VtOrder.Before,
            (false, true) => VtOrder.After,
            _ => VtOrder.Concurrent,
        };
    }

    /// <summary>Pairwise maximum into this VT: the least VT that dominates both.</summary>
    public void Merge(VectorTimestamp other)
    {
        CheckSameWidth(other);
        var a = _entries;
        var b = other._entries;
        for (var i = 0; i < a.Length; i++)
        {
            a[i] = Math.Max(a[i], b[i]);
        }
    }

    public VectorTimestamp Clone() => new(_entries);

    public bool Equals(VectorTimestamp? other) =>
        other is not null && _entries.AsSpan().SequenceEqual(other._entries);

    public override bool Equals(object? obj) => Equals(obj as VectorTimestamp);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var entry in _entries)
        {
            hash.Add(entry);
        }

        return hash.ToHashCode();
    }

    public override string ToString()
    {
        var text = new StringBuilder("[");
        for (var i = 0; i < _entries.Length; i++)
        {
            text.Append(i == 0 ? string.Empty : ",").Append(_entries[i]);
        }

        return text.Append(']').ToString();
    }

    private void CheckSameWidth(VectorTimestamp other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other._entries.Length != _entries.Length)
        {
            throw new ArgumentException(
                $"Vector timestamps of {_entries.Length} and {other._entries.Length} drones cannot be compared.", nameof(other));
        }
    }
}
