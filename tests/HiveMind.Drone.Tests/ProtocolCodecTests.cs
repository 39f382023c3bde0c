using System.Buffers;
using HiveMind.Consistency;
using HiveMind.Net.Codec;
using HiveMind.Wire;
using MessagePack;

namespace HiveMind.DroneTests;

public sealed class ProtocolCodecTests
{
    private const int Drones = 3;

    private static readonly IntervalRecord Sample = new(2, 4, new VectorTimestamp([1, 0, 4]), [7, 9]);

    public static TheoryData<string> Messages => [.. Samples().Keys];

    [Theory]
    [MemberData(nameof(Messages))]
    public void RoundTrip_EveryMessage_ReadsBackEqual(string name)
    {
        var message = Samples()[name];
        var bytes = Encode(message);
        var reader = new MessagePackReader(bytes);
        var back = ProtocolCodec.Read(ProtocolCodec.KindOf(message), ref reader, Drones);
        Assert.Equal(Describe(message), Describe(back));
        Assert.Equal(name, ProtocolCodec.Name(ProtocolCodec.KindOf(message)));
        Assert.True(ProtocolCodec.IsProtocolKind(ProtocolCodec.KindOf(message)), $"{name} is not a protocol kind");
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Read_TruncatedBody_ThrowsInvalidData(string name)
    {
        var message = Samples()[name];
        var bytes = Encode(message);
        for (var length = 0; length < bytes.Length; length++)
        {
            var cut = bytes[..length];
            var error = Xunit.Record.Exception(() =>
            {
                var reader = new MessagePackReader(cut);
                ProtocolCodec.Read(ProtocolCodec.KindOf(message), ref reader, Drones);
            });
            Assert.True(error is InvalidDataException, $"{name} cut to {length} of {bytes.Length} bytes threw {error?.GetType().Name ?? "nothing"}");
        }
    }

    [Fact]
    public void Read_ViewChangeNamingADroneOutsideTheRun_ThrowsInvalidData()
    {
        var bytes = Encode(new ViewChange(1, [0, 5]));
        var error = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new MessagePackReader(bytes);
            ProtocolCodec.Read(ProtocolCodec.ViewChangeKind, ref reader, Drones);
        });
        Assert.Contains("drone id 5 outside a run of 3 drones", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_JoinWelcomeWithAHolderOutsideTheRun_ThrowsInvalidData()
    {
        var bytes = Encode(new JoinWelcome(1, [0, 2], [], 0, [1, 1, 0], [new PageHolders(3, 1, [7])], 2, 4096, 1 << 20, [0, 0]));
        var error = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new MessagePackReader(bytes);
            ProtocolCodec.Read(ProtocolCodec.JoinWelcomeKind, ref reader, Drones);
        });
        Assert.Contains("drone id 7 outside a run of 3 drones", error.Message, StringComparison.Ordinal);
    }

    private static Dictionary<string, ProtocolMessage> Samples()
    {
        var request = new LockRequest(5, 1, 3, [1, 2, 3], 2, 0xfedcba9876543210, Try: true);
        var grant = new LockGrant(5, 3, [4, 2, 3], [Sample], 2);
        return new()
        {
            ["LockRequest"] = request,
            ["ForwardedLockRequest"] = new ForwardedLockRequest(request, 2),
            ["LockGrant"] = grant,
            ["LockBusy"] = new LockBusy(5, 3, 2, 0xfedcba9876543210),
            ["BarrierArrival"] = new BarrierArrival(1, 2, [0, 1, 4], [Sample], true),
            ["BarrierRelease"] = new BarrierRelease(1, [0, 1, 4], [Sample], false),
            ["DiffRequest"] = new DiffRequest([new PageIntervals(9, [1, 4]), new PageIntervals(12, [2])]),
            ["DiffReply"] = new DiffReply([new PageDiffs(9, [new CoveredDiff(1, 4, new byte[] { 1, 2, 3 })]), new PageDiffs(12, [new CoveredDiff(2, 2, Array.Empty<byte>())])]),
            ["PageRequest"] = new PageRequest([9, 12, 3]),
            ["PageReply"] = new PageReply([new PageCopy(9, new byte[] { 1, 2, 3, 4 }, [0, 2, 1]), new PageCopy(12, ReadOnlyMemory<byte>.Empty, [0, 0, 0])]),
            ["Suspicion"] = new Suspicion(2, 1, "silent for 3050 ms", Silent: true),

            ["ViewChange"] = new ViewChange(3, [0, 1]),
            ["LockReport"] = new LockReport(3, 1, [1, 2, 3], [Sample], [new LockSnapshot(5, false, false, true, 3), new LockSnapshot(6, true, true, false, 0)]),
            ["LockReset"] = new LockReset(3, [new LockAssignment(5, true, request, 1, [0, 1], [2, 3], grant), new LockAssignment(6, false, null, 0, [], [], null)]),
            ["JoinRequest"] = new JoinRequest(2),
            ["JoinWelcome"] = new JoinWelcome(4, [0, 2], [1], 7, [5, 0, 2], [new PageHolders(3, 4, [0, 2]), new PageHolders(9, 1, [1])], 2, 4096, 1 << 20, [1, 4096]),
        };
    }

    /// <summary>Records travel with their VTs as changes from the record before: every record reads back whole, whichever way its entries moved.</summary>
    [Fact]
    public void Records_WithVtsThatRiseAndFall_ReadBackWhole()
    {
        IntervalRecord[] records =
        [
            new(0, 5, new VectorTimestamp([5, 3, 0]), [1]),
            new(0, 6, new VectorTimestamp([6, 3, 0]), [1, 2]),
            new(1, 4, new VectorTimestamp([2, 4, 1]), []),
            new(2, 9, new VectorTimestamp([0, 0, 9]), [63]),
            new(2, 10, new VectorTimestamp([0, 0, 10]), [0]),
        ];
        var bytes = Encode(new BarrierRelease(3, [6, 4, 10], records, false));
        var reader = new MessagePackReader(bytes);
        var back = (BarrierRelease)ProtocolCodec.Read(ProtocolCodec.BarrierReleaseKind, ref reader, Drones);
        Assert.Equal(records.Length, back.Intervals.Length);
        for (var i = 0; i < records.Length; i++)
        {
            var (sent, read) = (records[i], back.Intervals[i]);
            Assert.True(
                sent.Drone == read.Drone && sent.Index == read.Index && sent.Timestamp.Entries.SequenceEqual(read.Timestamp.Entries) && sent.Pages.SequenceEqual(read.Pages),
                $"record {i}: sent {sent} pages [{string.Join(",", sent.Pages.ToArray())}], read {read} pages [{string.Join(",", read.Pages.ToArray())}]");
        }
    }

    /// <summary>
    /// An arrival gives its VT as the changes since the release its drone last took, and the reader rebuilds it from that
    /// release's VT, which the barrier manager keeps: the VT and the records read back whole, and the base is named.
    /// </summary>
    [Fact]
    public void BarrierArrival_AgainstARelease_ReadsBackItsWholeVt()
    {
        // Five drones, one entry moved since the release: the VT travels as that change alone, and the reader must take
        // the other four entries from the release it keeps (a reader that rebuilt from zeros would read [0,0,0,8,0]).
        const int RunDrones = 5;
        var released = new[] { 4, 1, 4, 7, 2 };
        var record = new IntervalRecord(3, 8, new VectorTimestamp([4, 1, 4, 8, 2]), [3]);
        var sent = new BarrierArrival(9, 3, [4, 1, 4, 8, 2], [record], false, new ReleaseBase(6, released));
        var bytes = Encode(sent);
        var reader = new MessagePackReader(bytes);
        var back = (BarrierArrival)ProtocolCodec.Read(ProtocolCodec.BarrierArrivalKind, ref reader, RunDrones, s => s == 6 ? [.. released] : null);
        Assert.True(
            back.Timestamp.SequenceEqual(sent.Timestamp) && back.Base?.Sequence == 6 && back.Intervals.Length == 1 && back.Intervals[0].Timestamp.Entries.SequenceEqual(record.Timestamp.Entries),
            $"drone 3's arrival at barrier 9 against release 6 [4,1,4,7,2]: sent VT [4,1,4,8,2] and record {record}, read VT [{string.Join(",", back.Timestamp)}], base {back.Base?.Sequence}, records [{string.Join("; ", back.Intervals.Select(r => r.ToString()))}]");
    }

    /// <summary>An arrival against a release the reader does not keep (it is not the manager, or the release is too old) is refused, naming it.</summary>
    [Fact]
    public void BarrierArrival_AgainstAReleaseTheReaderDoesNotKeep_ThrowsInvalidDataNamingIt()
    {
        var bytes = Encode(new BarrierArrival(9, 2, [4, 2, 5], [], false, new ReleaseBase(6, [4, 1, 4])));
        var elsewhere = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new MessagePackReader(bytes);
            ProtocolCodec.Read(ProtocolCodec.BarrierArrivalKind, ref reader, Drones);
        });
        Assert.Contains("changes since release 6, which this drone does not keep", elsewhere.Message, StringComparison.Ordinal);
        var tooOld = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new MessagePackReader(bytes);
            ProtocolCodec.Read(ProtocolCodec.BarrierArrivalKind, ref reader, Drones, s => s == 7 ? [4, 1, 4] : null);
        });
        Assert.Contains("release 6", tooOld.Message, StringComparison.Ordinal);
        var wrongSize = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new MessagePackReader(bytes);
            ProtocolCodec.Read(ProtocolCodec.BarrierArrivalKind, ref reader, Drones, _ => [4, 1]);
        });
        Assert.Contains("release 6 has a VT of 2 entries in a run of 3 drone slots", wrongSize.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The bytes of a barrier arrival whose drone wrote one interval since its last release (its own VT entry moved):
    /// the same from 2 to 32 drones. With the whole VT in the arrival they grew by an entry per drone.
    /// </summary>
    [Fact]
    public void ArrivalBytes_AgainstTheLastRelease_StayFlatFromTwoToThirtyTwoDrones()
    {
        var bytes = new Dictionary<int, int>();
        foreach (var drones in new[] { 2, 4, 8, 16, 32 })
        {
            var released = Enumerable.Repeat(1000, drones).ToArray();
            var vt = released.ToArray();
            vt[1] = 1001;
            var record = new IntervalRecord(1, 1001, new VectorTimestamp(vt), [1]);
            bytes[drones] = Encode(new BarrierArrival(7, 1, vt, [record], false, new ReleaseBase(12, released))).Length;
        }

        var table = string.Join(", ", bytes.Select(b => $"{b.Key} drones: {b.Value} B"));
        Assert.True(bytes[32] == bytes[2], $"the bytes of drone 1's arrival (one interval since release 12) grow with the run: {table}");
    }

    /// <summary>
    /// What a barrier release carries per record, for records of a barrier program (each drone one interval past the
    /// last release): a few bytes whatever the number of drones, not an entry per drone.
    /// </summary>
    [Fact]
    public void RecordBytes_InABarrierRelease_StayFlatFromTwoToThirtyTwoDrones()
    {
        var perRecord = new Dictionary<int, double>();
        foreach (var drones in new[] { 2, 4, 8, 16, 32 })
        {
            var released = Enumerable.Repeat(1000, drones).ToArray();
            var records = Enumerable.Range(1, drones - 1).Select(d =>
            {
                var vt = Enumerable.Repeat(1000, drones).ToArray();
                vt[d] = 1001;
                return new IntervalRecord(d, 1001, new VectorTimestamp(vt), [d]);
            }).ToArray();
            var full = Encode(new BarrierRelease(7, released, records, false)).Length;
            var empty = Encode(new BarrierRelease(7, released, [], false)).Length;
            perRecord[drones] = (double)(full - empty) / records.Length;
        }

        var table = string.Join(", ", perRecord.Select(p => $"{p.Key} drones: {p.Value:F1} B"));
        Assert.True(perRecord[32] <= perRecord[2] + 4, $"bytes per record in a barrier release grow with the run: {table}");
    }

    [Theory]
    [InlineData(new[] { 0, 0, 1, 2 }, "form 0 with 3 numbers is neither index/value pairs nor the 3 entries of the run")]
    [InlineData(new[] { 0, 2, 4, 1, 3 }, "name drone 1 after drone 2")]
    [InlineData(new[] { 0, 0, 1, 5, 2 }, "drone id 5 outside a run of 3 drones")]
    [InlineData(new[] { 1, 1, 4 }, "form 1 with 2 numbers is neither")]
    [InlineData(new[] { 7 }, "form 7 with 0 numbers")]
    [InlineData(new int[0], "VT is empty")]
    public void Read_RecordWithBadVtChanges_ThrowsInvalidDataNamingThem(int[] changes, string expected)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(5); // a release: barrier, sequence, VT, records, collect
        writer.Write(1);
        writer.Write(0);
        writer.WriteArrayHeader(3);
        writer.Write(1);
        writer.Write(1);
        writer.Write(4);
        writer.WriteArrayHeader(1);
        writer.WriteArrayHeader(4);
        writer.Write(2);
        writer.Write(4);
        writer.WriteArrayHeader(changes.Length);
        foreach (var value in changes)
        {
            writer.Write(value);
        }

        writer.WriteArrayHeader(0);
        writer.Write(false);
        writer.Flush();
        var bytes = output.WrittenSpan.ToArray();
        var error = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new MessagePackReader(bytes);
            ProtocolCodec.Read(ProtocolCodec.BarrierReleaseKind, ref reader, Drones);
        });
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Records of a few bytes each on the wire take a VT of the run's size in memory: a message naming a million of them
    /// (each one VT change, a few bytes) is refused before anything is allocated, naming the count and the limit.
    /// </summary>
    [Fact]
    public void Read_MillionsOfTinyRecords_RefusedBeforeAllocatingTheirVts()
    {
        const int RunDrones = 256;
        const int Records = 2_000_000;
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(5); // a release: barrier, sequence, VT, records, collect
        writer.Write(1);
        writer.Write(0);
        writer.WriteArrayHeader(RunDrones);
        for (var d = 0; d < RunDrones; d++)
        {
            writer.Write(0);
        }

        writer.WriteArrayHeader(Records);
        for (var i = 1; i <= Records; i++)
        {
            writer.WriteArrayHeader(4);
            writer.Write(0);
            writer.Write(i);
            writer.WriteArrayHeader(3);
            writer.Write(0);
            writer.Write(0);
            writer.Write(i);
            writer.WriteArrayHeader(0);
        }

        writer.Write(false);
        writer.Flush();
        var bytes = output.WrittenSpan.ToArray();
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new MessagePackReader(bytes);
            ProtocolCodec.Read(ProtocolCodec.BarrierReleaseKind, ref reader, RunDrones);
        });
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.Contains($"{Records} interval records in", error.Message, StringComparison.Ordinal);
        Assert.True(allocated < 4L << 20, $"reading a release of {Records} records ({bytes.Length} bytes) allocated {allocated} bytes before refusing it");
    }

    /// <summary>
    /// A request or reply that names more pages than any message may (one byte each, so the frame holds them all) is
    /// refused before an array is made for them, naming the count and the limit.
    /// </summary>
    [Theory]
    [InlineData(ProtocolCodec.PageRequestKind, "PageRequest pages")]
    [InlineData(ProtocolCodec.DiffRequestKind, "DiffRequest pages")]
    [InlineData(ProtocolCodec.PageReplyKind, "PageReply copies")]
    [InlineData(ProtocolCodec.DiffReplyKind, "DiffReply pages")]
    public void Read_MorePagesThanAMessageMayName_RefusedNamingTheLimit(byte kind, string what)
    {
        var count = ProtocolCodec.MaxDecodedPages + 1;
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(count);
        for (var i = 0; i < count; i++)
        {
            writer.Write(1);
        }

        writer.Flush();
        var bytes = output.WrittenSpan.ToArray();
        var error = Assert.Throws<InvalidDataException>(() => ProtocolCodec.Read(kind, bytes, Drones));
        Assert.Contains($"{what}: {count}, more than the {ProtocolCodec.MaxDecodedPages} a message may name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_RecordNamedTwice_ThrowsInvalidDataNamingIt()
    {
        var record = new IntervalRecord(1, 3, new VectorTimestamp([0, 3, 0]), [2]);
        var bytes = Encode(new BarrierRelease(1, [0, 3, 0], [record, record], false));
        var error = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new MessagePackReader(bytes);
            ProtocolCodec.Read(ProtocolCodec.BarrierReleaseKind, ref reader, Drones);
        });
        Assert.Contains("interval record 3 of drone 1 after interval 3 of drone 1", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Every message with bytes flipped and cut, and random bytes under every kind: ProtocolCodec.Read returns or throws
    /// InvalidDataException (the library's decoding errors wrapped at the seam), never another exception.
    /// </summary>
    [Fact]
    public void Read_MutatedAndRandomBodies_ThrowOnlyInvalidData()
    {
        var random = new Random(14);
        var kinds = Samples().Values.Select(ProtocolCodec.KindOf).Distinct().ToArray();
        var trial = 0;
        foreach (var (name, message) in Samples())
        {
            var encoded = Encode(message);
            for (var i = 0; i < 300; i++, trial++)
            {
                var bytes = encoded.ToArray();
                for (var flips = random.Next(1, 4); flips > 0; flips--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }

                AssertReadsOrThrowsInvalidData(ProtocolCodec.KindOf(message), bytes[..random.Next(1, bytes.Length + 1)], $"{name} mutated (trial {trial})");
            }
        }

        foreach (var kind in kinds)
        {
            for (var i = 0; i < 300; i++, trial++)
            {
                var bytes = new byte[random.Next(1, 64)];
                random.NextBytes(bytes);
                bytes[0] = (byte)random.Next(0x90, 0xA0); // an array header, so reading goes past the first byte
                AssertReadsOrThrowsInvalidData(kind, bytes, $"random bytes as {ProtocolCodec.Name(kind)} (trial {trial})");
            }
        }
    }

    /// <summary>Counts and lengths no frame holds (array 32 and bin 32 of 2^31 and 2^32-1): refused without allocating for them.</summary>
    [Theory]
    [InlineData("dd80000000", "array 32 of 2^31 pages")]
    [InlineData("ddffffffff", "array 32 of 2^32-1 pages")]
    [InlineData("9192cd010091930101c6ffffffff", "a diff whose bytes are a bin 32 of 4 GB")]
    [InlineData("9192cd0100dd7fffffff", "a page with 2^31-1 diffs")]
    public void Read_DiffReplyWithLyingCounts_ThrowsInvalidDataWithoutLargeAllocation(string hex, string what)
    {
        var bytes = Convert.FromHexString(hex + new string('0', 32));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Record.Exception(() => ProtocolCodec.Read(ProtocolCodec.DiffReplyKind, bytes, Drones));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(error is InvalidDataException, $"a DiffReply holding {what} ({hex}...) threw {error?.GetType().Name ?? "nothing"}: {error?.Message}");
        Assert.True(allocated < 64 * 1024, $"a DiffReply holding {what} allocated {allocated} bytes before it was refused");
    }

    /// <summary>Counts and lengths no frame holds in whole-page requests and replies: refused without allocating for them.</summary>
    [Theory]
    [InlineData(ProtocolCodec.PageRequestKind, "dd80000000", "a request of 2^31 pages")]
    [InlineData(ProtocolCodec.PageRequestKind, "ddffffffff", "a request of 2^32-1 pages")]
    [InlineData(ProtocolCodec.PageReplyKind, "dd80000000", "a reply of 2^31 copies")]
    [InlineData(ProtocolCodec.PageReplyKind, "9193cd0100c6ffffffff", "a copy whose bytes are a bin 32 of 4 GB")]
    [InlineData(ProtocolCodec.PageReplyKind, "9193cd0100c400dd7fffffff", "a copy with an applied vector of 2^31-1 entries")]
    public void Read_PageMessageWithLyingCounts_ThrowsInvalidDataWithoutLargeAllocation(byte kind, string hex, string what)
    {
        var bytes = Convert.FromHexString(hex + new string('0', 32));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Record.Exception(() => ProtocolCodec.Read(kind, bytes, Drones));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(error is InvalidDataException, $"a {ProtocolCodec.Name(kind)} holding {what} ({hex}...) threw {error?.GetType().Name ?? "nothing"}: {error?.Message}");
        Assert.True(allocated < 64 * 1024, $"a {ProtocolCodec.Name(kind)} holding {what} allocated {allocated} bytes before it was refused");
    }

    /// <summary>A page reply read from a body this drone owns holds its pages as slices of that body, as diff replies do: no copy per page.</summary>
    [Fact]
    public void Read_OwnedPageReply_SlicesItsPagesFromTheBody()
    {
        var page = Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray();
        var body = Encode(new PageReply([new PageCopy(5, page, [1, 0, 2]), new PageCopy(6, page, [0, 0, 0])]));
        var reply = (PageReply)ProtocolCodec.Read(ProtocolCodec.PageReplyKind, body.AsMemory(), Drones);
        for (var i = 0; i < reply.Copies.Length; i++)
        {
            var copy = reply.Copies[i];
            Assert.True(copy.Bytes.Span.SequenceEqual(page), $"copy {i} (page {copy.Page}) read back other bytes than the page written");
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(copy.Bytes, out var segment) && segment.Array == body, $"copy {i} (page {copy.Page}) is not a slice of the reply's body");
        }
    }

    private static void AssertReadsOrThrowsInvalidData(byte kind, byte[] bytes, string what)
    {
        var viaMemory = Record.Exception(() => ProtocolCodec.Read(kind, bytes, Drones));
        var viaReader = Record.Exception(() =>
        {
            var reader = new MessagePackReader(bytes);
            ProtocolCodec.Read(kind, ref reader, Drones);
        });
        Assert.True(viaMemory is null or InvalidDataException, $"{what} ({Convert.ToHexString(bytes)}), read from memory, threw {viaMemory?.GetType().Name}: {viaMemory?.Message}");
        Assert.True(viaReader is null or InvalidDataException, $"{what} ({Convert.ToHexString(bytes)}), read with a reader, threw {viaReader?.GetType().Name}: {viaReader?.Message}");
    }

    /// <summary>A protocol message as the wire carries its body.</summary>
    internal static byte[] Encode(ProtocolMessage message) => WireBodies.Of(message, ProtocolCodec.Write);

    // Records compare arrays by reference; compare what they hold instead.
    private static string Describe(object? value) => value switch
    {
        null => "null",
        byte[] bytes => $"bin[{Convert.ToHexString(bytes)}]",
        ReadOnlyMemory<byte> memory => $"bin[{Convert.ToHexString(memory.Span)}]",
        string text => $"\"{text}\"",
        VectorTimestamp vt => Describe(vt.Entries.ToArray()),
        System.Collections.IEnumerable items => "[" + string.Join(",", items.Cast<object?>().Select(Describe)) + "]",
        _ when value.GetType().IsPrimitive => value.ToString()!,
        _ => value.GetType().Name + "{" + string.Join(";", value.GetType().GetProperties()
            .Where(p => p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract" && !p.PropertyType.IsByRefLike)
            .Select(p => p.Name + "=" + Describe(p.GetValue(value)))) + "}",
    };
}
