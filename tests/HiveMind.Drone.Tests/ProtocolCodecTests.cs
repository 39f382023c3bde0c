using System.Buffers;
using HiveMind.Consistency;
using HiveMind.Net.Codec;
using HiveMind.Wire;

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
            Assert.True(error is InvalidDataException or MessagePackFormatException, $"{name} cut to {length} of {bytes.Length} bytes threw {error?.GetType().Name ?? "nothing"}");
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
        var request = new LockRequest(5, 1, 3, [1, 2, 3], 2);
        var grant = new LockGrant(5, 3, [4, 2, 3], [Sample], 2);
        return new()
        {
            ["LockRequest"] = request,
            ["ForwardedLockRequest"] = new ForwardedLockRequest(request, 2),
            ["LockGrant"] = grant,
            ["BarrierArrival"] = new BarrierArrival(1, 2, [0, 1, 4], [Sample], true),
            ["BarrierRelease"] = new BarrierRelease(1, [0, 1, 4], [Sample], false),
            ["DiffRequest"] = new DiffRequest([new PageIntervals(9, [1, 4]), new PageIntervals(12, [2])]),
            ["DiffReply"] = new DiffReply([new PageDiffs(9, [new CoveredDiff(1, 4, new byte[] { 1, 2, 3 })]), new PageDiffs(12, [new CoveredDiff(2, 2, Array.Empty<byte>())])]),
            ["PageRequest"] = new PageRequest(9),
            ["PageReply"] = new PageReply(9, [1, 2, 3, 4], [0, 2, 1]),
            ["Suspicion"] = new Suspicion(2, 1, "silent for 3050 ms", Silent: true),

            ["ViewChange"] = new ViewChange(3, [0, 1]),
            ["LockReport"] = new LockReport(3, 1, [1, 2, 3], [Sample], [new LockSnapshot(5, false, false, true, 3), new LockSnapshot(6, true, true, false, 0)]),
            ["LockReset"] = new LockReset(3, [new LockAssignment(5, true, request, 1, [0, 1], [2, 3], grant), new LockAssignment(6, false, null, 0, [], [], null)]),
            ["JoinRequest"] = new JoinRequest(2),
            ["JoinWelcome"] = new JoinWelcome(4, [0, 2], [1], 7, [5, 0, 2], [new PageHolders(3, 4, [0, 2]), new PageHolders(9, 1, [1])], 2, 4096, 1 << 20, [1, 4096]),
        };
    }

    private static byte[] Encode(ProtocolMessage message)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        ProtocolCodec.Write(ref writer, message);
        writer.Flush();
        return output.WrittenSpan.ToArray();
    }

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
