using FsCheck.Fluent;
using HiveMind.Consistency;

namespace HiveMind.Core.Tests;

public sealed class VectorTimestampTests
{
    private static readonly FsCheck.Gen<int[]> Entries4 = Gen.ArrayOf(Gen.Choose(0, 4), 4);

    private static readonly FsCheck.Gen<(int[] A, int[] B, int[] C)> Triples =
        from a in Entries4
        from b in Entries4
        from c in Entries4
        select (a, b, c);

    [Fact]
    public void Compare_IsAntisymmetric()
    {
        PropertyCheck.Holds(Triples, t =>
        {
            var (a, b) = (new VectorTimestamp(t.A), new VectorTimestamp(t.B));
            var expected = a.Compare(b) switch
            {
                VtOrder.Before => VtOrder.After,
                VtOrder.After => VtOrder.Before,
                var same => same,
            };
            Assert.True(b.Compare(a) == expected, $"{a} vs {b} is {a.Compare(b)} but the reverse is {b.Compare(a)}");
        });
    }

    [Fact]
    public void Compare_BeforeIsTransitive()
    {
        PropertyCheck.Holds(Triples, t =>
        {
            var (a, b, c) = (new VectorTimestamp(t.A), new VectorTimestamp(t.B), new VectorTimestamp(t.C));
            if (a.Compare(b) == VtOrder.Before && b.Compare(c) == VtOrder.Before)
            {
                Assert.True(a.Compare(c) == VtOrder.Before, $"{a} < {b} < {c} but {a} vs {c} is {a.Compare(c)}");
            }
        }, maxTest: 1000);
    }

    [Fact]
    public void Compare_AgreesWithDominates()
    {
        PropertyCheck.Holds(Triples, t =>
        {
            var (a, b) = (new VectorTimestamp(t.A), new VectorTimestamp(t.B));
            var order = a.Compare(b);
            Assert.True(a.Dominates(b) == order is VtOrder.After or VtOrder.Equal, $"{a} vs {b}: {order}, dominates {a.Dominates(b)}");
            Assert.True(order == VtOrder.Equal == a.Equals(b), $"{a} vs {b}: {order}, equals {a.Equals(b)}");
        });
    }

    [Fact]
    public void Merge_IsLeastUpperBound()
    {
        PropertyCheck.Holds(Triples, t =>
        {
            var (a, b, c) = (new VectorTimestamp(t.A), new VectorTimestamp(t.B), new VectorTimestamp(t.C));
            var ab = a.Clone();
            ab.Merge(b);
            Assert.True(ab.Dominates(a) && ab.Dominates(b), $"merge {ab} of {a} and {b} does not dominate both");

            // Least: anything that dominates both dominates the merge.
            if (c.Dominates(a) && c.Dominates(b))
            {
                Assert.True(c.Dominates(ab), $"{c} dominates {a} and {b} but not their merge {ab}");
            }

            var ba = b.Clone();
            ba.Merge(a);
            Assert.True(ab.Equals(ba), $"merge is not commutative: {ab} vs {ba}");

            var again = ab.Clone();
            again.Merge(b);
            Assert.True(again.Equals(ab), $"merge is not idempotent: {ab} merged with {b} gave {again}");

            var left = ab.Clone();
            left.Merge(c);
            var bc = b.Clone();
            bc.Merge(c);
            var right = a.Clone();
            right.Merge(bc);
            Assert.True(left.Equals(right), $"merge is not associative: ({a}+{b})+{c}={left}, {a}+({b}+{c})={right}");
        });
    }

    [Fact]
    public void Covers_MatchesEntries()
    {
        var vt = new VectorTimestamp([3, 0, 7]);
        Assert.True(vt.Covers(0, 3));
        Assert.False(vt.Covers(0, 4));
        Assert.True(vt.Covers(1, 0));
        Assert.False(vt.Covers(1, 1));
        var record = new IntervalRecord(2, 7, vt, [1, 5]);
        Assert.True(record.IsCoveredBy(vt));
        Assert.False(record.IsCoveredBy(new VectorTimestamp([9, 9, 6])));
        Assert.Equal([new WriteNotice(1, 2, 7), new WriteNotice(5, 2, 7)], record.WriteNotices.ToArray());
    }

    [Fact]
    public void IntervalRecord_KeepsItsOwnCopyOfTheTimestamp()
    {
        var vt = new VectorTimestamp([1, 0]);
        var record = new IntervalRecord(0, 1, vt, [4]);
        vt.Increment(0);
        Assert.Equal(1, record.Timestamp[0]);
    }

    [Fact]
    public void BadUse_Throws()
    {
        Assert.Throws<ArgumentException>(() => new VectorTimestamp([1, 2]).Compare(new VectorTimestamp([1, 2, 3])));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VectorTimestamp([-1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VectorTimestamp([5]).Set(0, 4));
        Assert.Throws<ArgumentException>(() => new IntervalRecord(0, 2, new VectorTimestamp([1]), []));
    }
}
