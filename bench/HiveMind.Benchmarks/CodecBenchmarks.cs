using System.Buffers;
using BenchmarkDotNet.Attributes;
using HiveMind.Consistency;
using HiveMind.Wire;
using Old = HiveMind.Benchmarks.HandwrittenCodec;

namespace HiveMind.Benchmarks;

/// <summary>
/// Encoding and decoding the hot protocol messages with MessagePack-CSharp 2.5.307 (<see cref="ProtocolCodec"/>, what the
/// drones run) against the hand-written codec HiveMind carried before it (<see cref="Old.HandwrittenProtocolCodec"/>, the
/// baseline of each group), in the same run. Both write into one reused buffer and read a body the drone owns (diffs
/// come back as slices of it), so what differs is the codec alone. A run of 8 drones; the messages are about the size
/// the apps send (bench/RESULTS.md, "Codec").
/// </summary>
[Config(typeof(BenchConfig))]
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private const int Drones = 8;
    private const int PageSize = 4096;

    private readonly ArrayBufferWriter<byte> _output = new(1 << 20);
    private ProtocolMessage _message = null!;
    private byte _kind;
    private byte[] _body = null!;

    /// <summary>The hot message kinds: what a miss, a lock transfer and a barrier send.</summary>
    public enum Message
    {
        /// <summary>Diffs for 4 pages, 2 diffs of 300 bytes each (a miss on pages others wrote).</summary>
        DiffReply,

        /// <summary>One 4 KiB page and the VT it is current to.</summary>
        PageReply,

        /// <summary>A grant carrying 16 interval records of 4 write notices each.</summary>
        LockGrant,

        /// <summary>A drone's arrival with its 8 new interval records of 8 write notices.</summary>
        BarrierArrival,

        /// <summary>The release to a drone: the other 7 drones' 8 records each, 8 write notices per record.</summary>
        BarrierRelease,

        /// <summary>Diffs asked for 16 pages, 3 intervals each.</summary>
        DiffRequest,
    }

    [Params(Message.DiffReply, Message.PageReply, Message.LockGrant, Message.BarrierArrival, Message.BarrierRelease, Message.DiffRequest)]
    public Message Kind { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(14);
        _message = Kind switch
        {
            Message.DiffReply => new DiffReply([.. Enumerable.Range(0, 4).Select(p => new PageDiffs(100 + p, [new CoveredDiff(3, 3, Bytes(random, 300)), new CoveredDiff(4, 5, Bytes(random, 300))]))]),
            Message.PageReply => new PageReply(77, Bytes(random, PageSize), Vt(5)),
            Message.LockGrant => new LockGrant(3, 41, Vt(20), Records(random, drones: 4, perDrone: 4, pages: 4, start: 16), 2, 99),
            Message.BarrierArrival => new BarrierArrival(6, 2, Vt(20), Records(random, drones: 1, perDrone: 8, pages: 8, start: 12, firstDrone: 2), false),
            Message.BarrierRelease => new BarrierRelease(6, Vt(20), Records(random, drones: 7, perDrone: 8, pages: 8, start: 12), false),
            Message.DiffRequest => new DiffRequest([.. Enumerable.Range(0, 16).Select(p => new PageIntervals(200 + p, [4, 7, 9]))]),
            _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, null),
        };
        _kind = ProtocolCodec.KindOf(_message);

        // Both codecs write the same bytes, and each reads the other's: checked here, so the figures compare like for like.
        var library = EncodeLibrary();
        var handwritten = EncodeHandwritten();
        if (!library.AsSpan().SequenceEqual(handwritten))
        {
            throw new InvalidOperationException($"{Kind}: MessagePack-CSharp wrote {library.Length} bytes, the hand-written codec {handwritten.Length}, not the same.");
        }

        _body = library;
        var fromOld = Old.HandwrittenProtocolCodec.Read(_kind, _body, Drones);
        var fromNew = ProtocolCodec.Read(_kind, _body, Drones);
        if (fromOld.GetType() != fromNew.GetType())
        {
            throw new InvalidOperationException($"{Kind}: the codecs read {fromOld.GetType().Name} and {fromNew.GetType().Name}.");
        }
    }

    [Benchmark(Baseline = true, Description = "Encode, hand-written")]
    [BenchmarkCategory("Encode")]
    public int Encode_Handwritten()
    {
        _output.ResetWrittenCount();
        var writer = new Old.MessagePackWriter(_output);
        Old.HandwrittenProtocolCodec.Write(ref writer, _message);
        writer.Flush();
        return _output.WrittenCount;
    }

    [Benchmark(Description = "Encode, MessagePack-CSharp")]
    [BenchmarkCategory("Encode")]
    public int Encode_Library()
    {
        _output.ResetWrittenCount();
        var writer = new MessagePack.MessagePackWriter(_output);
        ProtocolCodec.Write(ref writer, _message);
        writer.Flush();
        return _output.WrittenCount;
    }

    [Benchmark(Baseline = true, Description = "Decode, hand-written")]
    [BenchmarkCategory("Decode")]
    public object Decode_Handwritten() => Old.HandwrittenProtocolCodec.Read(_kind, _body, Drones);

    [Benchmark(Description = "Decode, MessagePack-CSharp")]
    [BenchmarkCategory("Decode")]
    public object Decode_Library() => ProtocolCodec.Read(_kind, _body, Drones);

    private byte[] EncodeLibrary()
    {
        Encode_Library();
        return _output.WrittenSpan.ToArray();
    }

    private byte[] EncodeHandwritten()
    {
        Encode_Handwritten();
        return _output.WrittenSpan.ToArray();
    }

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static int[] Vt(int entry) => [.. Enumerable.Repeat(entry, Drones)];

    /// <summary><paramref name="perDrone"/> consecutive intervals of each of <paramref name="drones"/> drones, each noticing <paramref name="pages"/> pages.</summary>
    private static IntervalRecord[] Records(Random random, int drones, int perDrone, int pages, int start, int firstDrone = 0)
    {
        var records = new List<IntervalRecord>();
        for (var d = firstDrone; d < firstDrone + drones; d++)
        {
            for (var i = 0; i < perDrone; i++)
            {
                var vt = Vt(start);
                vt[d] = start + i + 1;
                var noticed = Enumerable.Range(0, pages).Select(_ => random.Next(1024)).Distinct().Order().ToArray();
                records.Add(new IntervalRecord(d, start + i + 1, new VectorTimestamp(vt), noticed));
            }
        }

        return [.. records];
    }
}
