using HiveMind.Consistency;
using HiveMind.Net.Codec;
using HiveMind.Net.Transport;
using MessagePack;

namespace HiveMind.Wire;

/// <summary>
/// The protocol engine's messages as mesh frames: one application kind per message type, the body a
/// MessagePack array of its fields, written and read with MessagePack-CSharp's writer and reader by hand (no
/// formatters: the hot messages go field by field, diffs and pages as bin straight from their bytes). Decoding checks
/// shapes and values; a bad frame throws <see cref="InvalidDataException"/>, which closes the link.
/// </summary>
internal static class ProtocolCodec
{
    // How an interval record's VT travels (see WriteRecords).
    private const int ChangedEntries = 0;
    private const int AllEntries = 1;

    // The most memory the interval records of one message may take once read: the largest frame a run takes (1 GiB).
    private const long MaxDecodedRecordBytes = 1L << 30;

    /// <summary>Pages a request or reply may name at all, as the decoder sees it (the engine's own limit is far lower).</summary>
    public const int MaxDecodedPages = 4096;

    public const byte LockRequestKind = MessageKind.FirstApplicationKind;
    public const byte ForwardedLockRequestKind = MessageKind.FirstApplicationKind + 1;
    public const byte LockGrantKind = MessageKind.FirstApplicationKind + 2;
    public const byte BarrierArrivalKind = MessageKind.FirstApplicationKind + 3;
    public const byte BarrierReleaseKind = MessageKind.FirstApplicationKind + 4;
    public const byte DiffRequestKind = MessageKind.FirstApplicationKind + 5;
    public const byte DiffReplyKind = MessageKind.FirstApplicationKind + 6;
    public const byte PageRequestKind = MessageKind.FirstApplicationKind + 7;
    public const byte PageReplyKind = MessageKind.FirstApplicationKind + 8;

    /// <summary>A drone's Malloc, a request to drone 0 (<see cref="AllocationCodec"/>): not a protocol message.</summary>
    public const byte AllocateRequestKind = MessageKind.FirstApplicationKind + 9;

    /// <summary>A drone's Free, a request to drone 0 (<see cref="AllocationCodec"/>): not a protocol message.</summary>
    public const byte FreeRequestKind = MessageKind.FirstApplicationKind + 10;

    /// <summary>A lock attempt's refusal (<see cref="LockBusy"/>).</summary>
    public const byte LockBusyKind = MessageKind.FirstApplicationKind + 11;

    /// <summary>A <see cref="ConditionWake"/> from a signalling drone to a waiting one: not the engine's, read by <see cref="ConditionWake.Read"/>.</summary>
    public const byte ConditionWakeKind = MessageKind.FirstApplicationKind + 12;

    // Membership and lock recovery (PROTOCOL.md, "Failures and churn").
    public const byte SuspicionKind = MessageKind.FirstApplicationKind + 20;
    public const byte ViewChangeKind = MessageKind.FirstApplicationKind + 21;
    public const byte LockReportKind = MessageKind.FirstApplicationKind + 22;
    public const byte LockResetKind = MessageKind.FirstApplicationKind + 23;
    public const byte JoinRequestKind = MessageKind.FirstApplicationKind + 24;
    public const byte JoinWelcomeKind = MessageKind.FirstApplicationKind + 25;

    /// <summary>A drone's <see cref="RunReport"/> to drone 0 as it leaves: not a protocol message, and not counted as one.</summary>
    public const byte RunReportKind = MessageKind.FirstApplicationKind + 26;

    /// <summary>Name of a frame kind, protocol or mesh, for statistics and logs.</summary>
    public static string Name(byte kind) => kind switch
    {
        LockRequestKind => "LockRequest",
        ForwardedLockRequestKind => "ForwardedLockRequest",
        LockGrantKind => "LockGrant",
        BarrierArrivalKind => "BarrierArrival",
        BarrierReleaseKind => "BarrierRelease",
        DiffRequestKind => "DiffRequest",
        DiffReplyKind => "DiffReply",
        PageRequestKind => "PageRequest",
        PageReplyKind => "PageReply",
        AllocateRequestKind => "AllocateRequest",
        FreeRequestKind => "FreeRequest",
        LockBusyKind => "LockBusy",
        SuspicionKind => "Suspicion",
        ViewChangeKind => "ViewChange",
        LockReportKind => "LockReport",
        LockResetKind => "LockReset",
        JoinRequestKind => "JoinRequest",
        JoinWelcomeKind => "JoinWelcome",
        RunReportKind => "RunReport",
        ConditionWakeKind => "ConditionWake",
        _ => MessageKind.Name(kind),
    };

    /// <summary>True for the kinds this codec reads.</summary>
    public static bool IsProtocolKind(byte kind) => kind is (>= LockRequestKind and <= PageReplyKind) or LockBusyKind or (>= SuspicionKind and <= JoinWelcomeKind);

    /// <summary>True for the kinds that only come as replies to requests.</summary>
    public static bool IsReplyKind(byte kind) => kind is DiffReplyKind or PageReplyKind;

    /// <summary>The kind of the reply that a request of this message type gets.</summary>
    public static byte ReplyKindOf(ProtocolMessage request) => request switch
    {
        DiffRequest => DiffReplyKind,
        PageRequest => PageReplyKind,
        _ => throw new ArgumentException($"{request.GetType().Name} takes no reply", nameof(request)),
    };

    /// <summary>The frame kind of a message.</summary>
    public static byte KindOf(ProtocolMessage message) => message switch
    {
        LockRequest => LockRequestKind,
        ForwardedLockRequest => ForwardedLockRequestKind,
        LockGrant => LockGrantKind,
        BarrierArrival => BarrierArrivalKind,
        BarrierRelease => BarrierReleaseKind,
        DiffRequest => DiffRequestKind,
        DiffReply => DiffReplyKind,
        PageRequest => PageRequestKind,
        PageReply => PageReplyKind,
        LockBusy => LockBusyKind,
        Suspicion => SuspicionKind,
        ViewChange => ViewChangeKind,
        LockReport => LockReportKind,
        LockReset => LockResetKind,
        JoinRequest => JoinRequestKind,
        JoinWelcome => JoinWelcomeKind,
        _ => throw new ArgumentException($"no frame kind for {message.GetType().Name}", nameof(message)),
    };

    /// <summary>About how many bytes a message's body takes: its diffs' or page's bytes, plus a little per item.</summary>
    public static int SizeHint(ProtocolMessage message) => message switch
    {
        DiffReply m => m.Pages.Sum(p => 16 + p.Diffs.Sum(d => 16 + d.Bytes.Length)),
        PageReply m => m.Copies.Sum(c => c.Bytes.Length + (8 * c.Applied.Length) + 16),
        JoinWelcome m => m.Holders.Sum(h => 12 + (4 * h.Holders.Length)) + (8 * m.Timestamp.Length) + 64,
        _ => 0,
    };

    /// <summary>Writes a message's fields as one MessagePack array.</summary>
    public static void Write(ref MessagePackWriter writer, ProtocolMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        switch (message)
        {
            case LockRequest m:
                WriteLockRequest(ref writer, m);
                break;
            case ForwardedLockRequest m:
                writer.WriteArrayHeader(2);
                WriteLockRequest(ref writer, m.Request);
                writer.Write(m.View);
                break;
            case LockGrant m:
                WriteLockGrant(ref writer, m);
                break;
            case LockBusy m:
                writer.WriteArrayHeader(4);
                writer.Write(m.Lock);
                writer.Write(m.Sequence);
                writer.Write(m.View);
                writer.Write(m.Ticket);
                break;
            case Suspicion m:
                writer.WriteArrayHeader(4);
                writer.Write(m.Suspect);
                writer.Write(m.Reporter);
                writer.Write(m.Reason);
                writer.Write(m.Silent);
                break;
            case ViewChange m:
                writer.WriteArrayHeader(2);
                writer.Write(m.View);
                WriteInts(ref writer, m.Live);
                break;
            case LockReport m:
                writer.WriteArrayHeader(5);
                writer.Write(m.View);
                writer.Write(m.Drone);
                WriteInts(ref writer, m.Timestamp);
                WriteRecords(ref writer, m.Intervals, m.Timestamp);
                writer.WriteArrayHeader(m.Locks.Length);
                foreach (var l in m.Locks)
                {
                    writer.WriteArrayHeader(6);
                    writer.Write(l.Lock);
                    writer.Write(l.HasToken);
                    writer.Write(l.Held);
                    writer.Write(l.Waiting);
                    writer.Write(l.Sequence);
                    writer.Write(l.Ticket);
                }

                break;
            case LockReset m:
                writer.WriteArrayHeader(2);
                writer.Write(m.View);
                writer.WriteArrayHeader(m.Locks.Length);
                foreach (var a in m.Locks)
                {
                    WriteAssignment(ref writer, a);
                }

                break;
            case JoinRequest m:
                writer.WriteArrayHeader(1);
                writer.Write(m.Drone);
                break;
            case JoinWelcome m:
                writer.WriteArrayHeader(10);
                writer.Write(m.View);
                WriteInts(ref writer, m.Live);
                WriteInts(ref writer, m.Removed);
                writer.Write(m.Barrier);
                WriteInts(ref writer, m.Timestamp);
                writer.WriteArrayHeader(m.Holders.Length);
                foreach (var (first, count, holders) in m.Holders)
                {
                    writer.WriteArrayHeader(3);
                    writer.Write(first);
                    writer.Write(count);
                    WriteInts(ref writer, holders);
                }

                writer.Write(m.Started);
                writer.Write(m.PageSize);
                writer.Write(m.HeapSize);
                writer.WriteArrayHeader(m.Extra.Length);
                foreach (var value in m.Extra)
                {
                    writer.Write(value);
                }

                break;
            case BarrierArrival m:
                // The VT as its changes since the release the drone last took (the manager keeps that release's VT), or
                // since zero when it took none: an arrival's size does not grow with the run.
                writer.WriteArrayHeader(6);
                writer.Write(m.Barrier);
                writer.Write(m.Drone);
                writer.Write(m.Base?.Sequence ?? 0);
                WriteTimestampChanges(ref writer, m.Timestamp, m.Base is { } @base ? @base.Timestamp : new int[m.Timestamp.Length], m);
                WriteRecords(ref writer, m.Intervals, m.Timestamp);
                writer.Write(m.WantsCollection);
                break;
            case BarrierRelease m:
                writer.WriteArrayHeader(5);
                writer.Write(m.Barrier);
                writer.Write(m.Sequence);
                WriteInts(ref writer, m.Timestamp);
                WriteRecords(ref writer, m.Intervals, m.Timestamp);
                writer.Write(m.Collect);
                break;
            case PageRequest m:
                WriteInts(ref writer, m.Pages);
                break;
            case PageReply m:
                writer.WriteArrayHeader(m.Copies.Length);
                foreach (var copy in m.Copies)
                {
                    writer.WriteArrayHeader(3);
                    writer.Write(copy.Page);
                    writer.Write(copy.Bytes.Span);
                    WriteInts(ref writer, copy.Applied);
                }

                break;
            case DiffRequest m:
                writer.WriteArrayHeader(m.Pages.Length);
                foreach (var (page, intervals) in m.Pages)
                {
                    writer.WriteArrayHeader(2);
                    writer.Write(page);
                    WriteInts(ref writer, intervals);
                }

                break;
            case DiffReply m:
                writer.WriteArrayHeader(m.Pages.Length);
                foreach (var page in m.Pages)
                {
                    writer.WriteArrayHeader(2);
                    writer.Write(page.Page);
                    writer.WriteArrayHeader(page.Diffs.Length);
                    foreach (var diff in page.Diffs)
                    {
                        writer.WriteArrayHeader(3);
                        writer.Write(diff.First);
                        writer.Write(diff.Last);
                        writer.Write(diff.Bytes.Span);
                    }
                }

                break;
            default:
                throw new ArgumentException($"cannot encode {message.GetType().Name}", nameof(message));
        }
    }

    /// <summary>
    /// Reads the message of <paramref name="kind"/> from a body this drone owns: the diffs of a
    /// <see cref="DiffReply"/> and the pages of a <see cref="PageReply"/> are slices of <paramref name="body"/>, not copies.
    /// <paramref name="releases"/> gives the VT of one of the barrier manager's recent releases by its number (the
    /// manager's engine: <c>LrcEngine.ReleaseTimestamp</c>), which a barrier arrival's VT is written against; without it,
    /// or when it has none, such an arrival does not decode.
    /// </summary>
    /// <exception cref="InvalidDataException">The body does not describe a valid message.</exception>
    public static ProtocolMessage Read(byte kind, ReadOnlyMemory<byte> body, int drones, Func<int, int[]?>? releases = null)
    {
        var reader = new MessagePackReader(body);
        try
        {
            return kind switch
            {
                DiffReplyKind => ReadDiffReply(ref reader, owned: true),
                PageReplyKind => ReadPageReply(ref reader, drones, owned: true),
                _ => ReadMessage(kind, ref reader, drones, releases),
            };
        }
        catch (Exception error) when (IsCodecError(error))
        {
            throw MalformedInput.Wrap(error, $"{Name(kind)} body", reader.Consumed, reader.Sequence.Length);
        }
    }

    /// <summary>Reads the message of <paramref name="kind"/> for a run of <paramref name="drones"/> drones (<paramref name="releases"/>: as above).</summary>
    /// <exception cref="InvalidDataException">The body does not describe a valid message.</exception>
    public static ProtocolMessage Read(byte kind, ref MessagePackReader reader, int drones, Func<int, int[]?>? releases = null)
    {
        try
        {
            return ReadMessage(kind, ref reader, drones, releases);
        }
        catch (Exception error) when (IsCodecError(error))
        {
            throw MalformedInput.Wrap(error, $"{Name(kind)} body", reader.Consumed, reader.Sequence.Length);
        }
    }

    // The library's decoding errors, which the public Read methods turn into the InvalidDataException they document.
    private static bool IsCodecError(Exception error) => error is not InvalidDataException && MalformedInput.Is(error);

    private static ProtocolMessage ReadMessage(byte kind, ref MessagePackReader reader, int drones, Func<int, int[]?>? releases)
    {
        switch (kind)
        {
            case LockRequestKind:
                return ReadLockRequest(ref reader, drones);
            case ForwardedLockRequestKind:
                Fields(ref reader, 2, "ForwardedLockRequest");
                return new ForwardedLockRequest(ReadLockRequest(ref reader, drones), NonNegative(reader.ReadInt32(), "view"));
            case LockGrantKind:
                return ReadLockGrant(ref reader, drones);
            case LockBusyKind:
                Fields(ref reader, 4, "LockBusy");
                return new LockBusy(NonNegative(reader.ReadInt32(), "lock"), reader.ReadInt64(), NonNegative(reader.ReadInt32(), "view"), reader.ReadUInt64());
            case SuspicionKind:
                Fields(ref reader, 4, "Suspicion");
                return new Suspicion(Drone(reader.ReadInt32(), drones), Drone(reader.ReadInt32(), drones), reader.ReadText(), reader.ReadBoolean());
            case ViewChangeKind:
                Fields(ref reader, 2, "ViewChange");
                var view = NonNegative(reader.ReadInt32(), "view");
                var live = ReadInts(ref reader, "live drone");
                foreach (var drone in live)
                {
                    Drone(drone, drones);
                }

                return new ViewChange(view, live);
            case LockReportKind:
                return ReadLockReport(ref reader, drones);
            case LockResetKind:
                Fields(ref reader, 2, "LockReset");
                var resetView = NonNegative(reader.ReadInt32(), "view");
                var assignments = new LockAssignment[reader.ReadArrayHeader()];
                for (var i = 0; i < assignments.Length; i++)
                {
                    assignments[i] = ReadAssignment(ref reader, drones);
                }

                return new LockReset(resetView, assignments);
            case JoinRequestKind:
                Fields(ref reader, 1, "JoinRequest");
                return new JoinRequest(Drone(reader.ReadInt32(), drones));
            case JoinWelcomeKind:
                return ReadJoinWelcome(ref reader, drones);
            case BarrierArrivalKind:
                return ReadBarrierArrival(ref reader, drones, releases);
            case BarrierReleaseKind:
                {
                    Fields(ref reader, 5, "BarrierRelease");
                    var (barrier, sequence, timestamp) = (reader.ReadInt32(), NonNegative(reader.ReadInt32(), "release sequence"), ReadTimestamp(ref reader, drones));
                    return new BarrierRelease(barrier, timestamp, ReadRecords(ref reader, drones, timestamp), reader.ReadBoolean(), sequence);
                }

            case PageRequestKind:
                {
                    // At most a request's worth of pages, refused before any array is made for a larger count.
                    var pages = new int[PagesAtMost(reader.ReadArrayHeader(), "PageRequest pages")];
                    for (var i = 0; i < pages.Length; i++)
                    {
                        pages[i] = NonNegative(reader.ReadInt32(), "page");
                    }

                    return new PageRequest(pages);
                }

            case PageReplyKind:
                return ReadPageReply(ref reader, drones, owned: false);
            case DiffRequestKind:
                var asked = new PageIntervals[PagesAtMost(reader.ReadArrayHeader(), "DiffRequest pages")];
                for (var i = 0; i < asked.Length; i++)
                {
                    Fields(ref reader, 2, "DiffRequest page");
                    asked[i] = new PageIntervals(NonNegative(reader.ReadInt32(), "page"), ReadInts(ref reader, "intervals"));
                }

                return new DiffRequest(asked);
            case DiffReplyKind:
                return ReadDiffReply(ref reader, owned: false);
            default:
                throw new InvalidDataException($"kind {kind} is not a protocol message");
        }
    }

    /// <summary>A diff reply; its diffs are slices of the reader's input when this drone <paramref name="owned"/> it, else copies.</summary>
    private static DiffReply ReadDiffReply(ref MessagePackReader reader, bool owned)
    {
        var pages = new PageDiffs[PagesAtMost(reader.ReadArrayHeader(), "DiffReply pages")];
        for (var i = 0; i < pages.Length; i++)
        {
            Fields(ref reader, 2, "DiffReply page");
            var page = NonNegative(reader.ReadInt32(), "page");
            var diffs = new CoveredDiff[reader.ReadArrayHeader()];
            for (var k = 0; k < diffs.Length; k++)
            {
                Fields(ref reader, 3, "diff");
                var first = NonNegative(reader.ReadInt32(), "interval");
                var last = NonNegative(reader.ReadInt32(), "interval");
                var bytes = reader.ReadBinary();
                diffs[k] = new CoveredDiff(first, last, owned ? bytes : bytes.ToArray());
            }

            pages[i] = new PageDiffs(page, diffs);
        }

        return new DiffReply(pages);
    }

    /// <summary>
    /// A page reply; its pages are slices of the reader's input when this drone <paramref name="owned"/> it, else copies.
    /// The copies' count is bounded by the bytes left (the reader refuses a count past them), and each copy's applied
    /// vector must be the run's: whether they are the copies asked for is for the asker to check.
    /// </summary>
    private static PageReply ReadPageReply(ref MessagePackReader reader, int drones, bool owned)
    {
        var copies = new PageCopy[PagesAtMost(reader.ReadArrayHeader(), "PageReply copies")];
        for (var i = 0; i < copies.Length; i++)
        {
            Fields(ref reader, 3, "PageReply copy");
            var page = NonNegative(reader.ReadInt32(), "page");
            var bytes = reader.ReadBinary();
            copies[i] = new PageCopy(page, owned ? bytes : bytes.ToArray(), ReadTimestamp(ref reader, drones));
        }

        return new PageReply(copies);
    }

    private static JoinWelcome ReadJoinWelcome(ref MessagePackReader reader, int drones)
    {
        Fields(ref reader, 10, "JoinWelcome");
        var view = NonNegative(reader.ReadInt32(), "view");
        var live = Drones(ReadInts(ref reader, "live drone"), drones);
        var removed = Drones(ReadInts(ref reader, "removed drone"), drones);
        var barrier = NonNegative(reader.ReadInt32(), "barrier");
        var timestamp = ReadTimestamp(ref reader, drones);
        var holders = new PageHolders[reader.ReadArrayHeader()];
        for (var i = 0; i < holders.Length; i++)
        {
            Fields(ref reader, 3, "page holders");
            holders[i] = new PageHolders(NonNegative(reader.ReadInt32(), "page"), NonNegative(reader.ReadInt32(), "page count"), Drones(ReadInts(ref reader, "holder"), drones));
        }

        var started = Drone(reader.ReadInt32() - 1, drones) + 1;
        var pageSize = NonNegative(reader.ReadInt32(), "page size");
        var heapSize = reader.ReadInt64();
        if (heapSize < 0)
        {
            throw new InvalidDataException($"heap size {heapSize} is negative");
        }

        var extra = new long[reader.ReadArrayHeader()];
        for (var i = 0; i < extra.Length; i++)
        {
            extra[i] = reader.ReadInt64();
        }

        return new JoinWelcome(view, live, removed, barrier, timestamp, holders, started, pageSize, heapSize, extra);
    }

    private static int[] Drones(int[] ids, int drones)
    {
        foreach (var id in ids)
        {
            Drone(id, drones);
        }

        return ids;
    }

    private static void WriteLockRequest(ref MessagePackWriter writer, LockRequest m)
    {
        writer.WriteArrayHeader(7);
        writer.Write(m.Lock);
        writer.Write(m.Requester);
        writer.Write(m.Sequence);
        WriteInts(ref writer, m.Timestamp);
        writer.Write(m.View);
        writer.Write(m.Ticket);
        writer.Write(m.Try);
    }

    private static LockRequest ReadLockRequest(ref MessagePackReader reader, int drones)
    {
        Fields(ref reader, 7, "LockRequest");
        return new LockRequest(
            NonNegative(reader.ReadInt32(), "lock"), Drone(reader.ReadInt32(), drones), reader.ReadInt64(), ReadTimestamp(ref reader, drones), NonNegative(reader.ReadInt32(), "view"), reader.ReadUInt64(), reader.ReadBoolean());
    }

    private static void WriteLockGrant(ref MessagePackWriter writer, LockGrant m)
    {
        writer.WriteArrayHeader(6);
        writer.Write(m.Lock);
        writer.Write(m.Sequence);
        WriteInts(ref writer, m.Timestamp);
        WriteRecords(ref writer, m.Intervals, m.Timestamp);
        writer.Write(m.View);
        writer.Write(m.Ticket);
    }

    private static LockGrant ReadLockGrant(ref MessagePackReader reader, int drones)
    {
        Fields(ref reader, 6, "LockGrant");
        var (lockId, sequence, timestamp) = (NonNegative(reader.ReadInt32(), "lock"), reader.ReadInt64(), ReadTimestamp(ref reader, drones));
        return new LockGrant(lockId, sequence, timestamp, ReadRecords(ref reader, drones, timestamp), NonNegative(reader.ReadInt32(), "view"), reader.ReadUInt64());
    }

    private static LockReport ReadLockReport(ref MessagePackReader reader, int drones)
    {
        Fields(ref reader, 5, "LockReport");
        var view = NonNegative(reader.ReadInt32(), "view");
        var drone = Drone(reader.ReadInt32(), drones);
        var timestamp = ReadTimestamp(ref reader, drones);
        var records = ReadRecords(ref reader, drones, timestamp);
        var locks = new LockSnapshot[reader.ReadArrayHeader()];
        for (var i = 0; i < locks.Length; i++)
        {
            Fields(ref reader, 6, "lock snapshot");
            locks[i] = new LockSnapshot(NonNegative(reader.ReadInt32(), "lock"), reader.ReadBoolean(), reader.ReadBoolean(), reader.ReadBoolean(), reader.ReadInt64(), reader.ReadUInt64());
        }

        return new LockReport(view, drone, timestamp, records, locks);
    }

    private static void WriteAssignment(ref MessagePackWriter writer, LockAssignment a)
    {
        writer.WriteArrayHeader(7);
        writer.Write(a.Lock);
        writer.Write(a.Token);
        if (a.Next is null)
        {
            writer.WriteNil();
        }
        else
        {
            WriteLockRequest(ref writer, a.Next);
        }

        writer.Write(a.LastRequester);
        WriteInts(ref writer, a.SeenDrones);
        writer.WriteArrayHeader(a.SeenSequences.Length);
        foreach (var sequence in a.SeenSequences)
        {
            writer.Write(sequence);
        }

        if (a.Grant is null)
        {
            writer.WriteNil();
        }
        else
        {
            WriteLockGrant(ref writer, a.Grant);
        }
    }

    private static LockAssignment ReadAssignment(ref MessagePackReader reader, int drones)
    {
        Fields(ref reader, 7, "lock assignment");
        var lockId = NonNegative(reader.ReadInt32(), "lock");
        var token = reader.ReadBoolean();
        var next = reader.TryReadNil() ? null : ReadLockRequest(ref reader, drones);
        var last = Drone(reader.ReadInt32(), drones);
        var seenDrones = ReadInts(ref reader, "drone");
        foreach (var drone in seenDrones)
        {
            Drone(drone, drones);
        }

        var seenSequences = new long[reader.ReadArrayHeader()];
        for (var i = 0; i < seenSequences.Length; i++)
        {
            seenSequences[i] = reader.ReadInt64();
        }

        if (seenSequences.Length != seenDrones.Length)
        {
            throw new InvalidDataException($"lock assignment of lock {lockId}: {seenDrones.Length} drones but {seenSequences.Length} sequences");
        }

        var grant = reader.TryReadNil() ? null : ReadLockGrant(ref reader, drones);
        return new LockAssignment(lockId, token, next, last, seenDrones, seenSequences, grant);
    }

    private static void WriteInts(ref MessagePackWriter writer, ReadOnlySpan<int> values)
    {
        writer.WriteArrayHeader(values.Length);
        foreach (var value in values)
        {
            writer.Write(value);
        }
    }

    private static int[] ReadInts(ref MessagePackReader reader, string what)
    {
        var values = new int[reader.ReadArrayHeader()];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = NonNegative(reader.ReadInt32(), what);
        }

        return values;
    }

    private static int[] ReadTimestamp(ref MessagePackReader reader, int drones)
    {
        var vt = ReadInts(ref reader, "VT entry");
        return vt.Length == drones ? vt : throw new InvalidDataException($"VT of {vt.Length} entries in a run of {drones} drones");
    }

    /// <summary>
    /// A barrier arrival, whose VT is the changes since release <c>base</c> of the manager (0: since zero), which
    /// <paramref name="releases"/> gives (the barrier manager keeps its last releases' VTs; anyone else has none).
    /// </summary>
    private static BarrierArrival ReadBarrierArrival(ref MessagePackReader reader, int drones, Func<int, int[]?>? releases)
    {
        Fields(ref reader, 6, "BarrierArrival");
        var (barrier, drone, sequence) = (reader.ReadInt32(), Drone(reader.ReadInt32(), drones), NonNegative(reader.ReadInt32(), "release sequence"));
        ReleaseBase? @base = null;
        var timestamp = new int[drones];
        if (sequence > 0)
        {
            var known = releases?.Invoke(sequence)
                ?? throw new InvalidDataException($"barrier arrival of drone {drone} gives its VT as changes since release {sequence}, which this drone does not keep (only the barrier manager keeps its last releases)");
            if (known.Length != drones)
            {
                throw new InvalidDataException($"release {sequence} has a VT of {known.Length} entries in a run of {drones} drone slots");
            }

            known.CopyTo(timestamp, 0);
            @base = new ReleaseBase(sequence, known);
        }

        ReadTimestampChanges(ref reader, drones, timestamp, "barrier arrival's VT");
        return new BarrierArrival(barrier, drone, timestamp, ReadRecords(ref reader, drones, timestamp), reader.ReadBoolean(), @base);
    }

    /// <summary>Writes <paramref name="vt"/> (of <paramref name="owner"/>, for errors) as the entries that changed from <paramref name="previous"/> (all of them when more than half did).</summary>
    private static void WriteTimestampChanges(ref MessagePackWriter writer, ReadOnlySpan<int> vt, ReadOnlySpan<int> previous, object owner)
    {
        if (vt.Length != previous.Length)
        {
            throw new ArgumentException($"{owner} has a VT of {vt.Length} entries where the VT before it has {previous.Length}.", nameof(vt));
        }

        var changed = 0;
        for (var d = 0; d < vt.Length; d++)
        {
            changed += vt[d] != previous[d] ? 1 : 0;
        }

        if (2 * changed <= vt.Length)
        {
            writer.WriteArrayHeader(1 + (2 * changed));
            writer.Write(ChangedEntries);
            for (var d = 0; d < vt.Length; d++)
            {
                if (vt[d] != previous[d])
                {
                    writer.Write(d);
                    writer.Write(vt[d]);
                }
            }
        }
        else
        {
            writer.WriteArrayHeader(1 + vt.Length);
            writer.Write(AllEntries);
            foreach (var entry in vt)
            {
                writer.Write(entry);
            }
        }
    }

    /// <summary>
    /// Interval records, each VT as the entries that differ from the VT before it (the message's own VT for the first
    /// record, the previous record's for the others) as index/value pairs after a 0, or, when more than half the entries
    /// differ, all of them after a 1. Records that travel together are mostly an entry or two apart (a drone's next
    /// interval, the next drone's interval after the same barrier), so a record costs a few bytes whatever the run's size.
    /// </summary>
    private static void WriteRecords(ref MessagePackWriter writer, IntervalRecord[] records, ReadOnlySpan<int> start)
    {
        writer.WriteArrayHeader(records.Length);
        var previous = start.ToArray();
        foreach (var record in records)
        {
            writer.WriteArrayHeader(4);
            writer.Write(record.Drone);
            writer.Write(record.Index);
            WriteTimestampChanges(ref writer, record.Timestamp.Entries, previous, record);
            WriteInts(ref writer, record.Pages);
            record.Timestamp.Entries.CopyTo(previous);
        }
    }

    private static IntervalRecord[] ReadRecords(ref MessagePackReader reader, int drones, int[] start)
    {
        // A record costs a few bytes here and a VT of the run's size in memory: a message may not make its receiver keep
        // more than MaxDecodedRecordBytes of records (as much as the largest frame the mesh takes at all).
        var body = reader.Remaining();
        var count = reader.ReadArrayHeader();
        var decoded = count * (64L + (4L * drones));
        if (decoded > MaxDecodedRecordBytes)
        {
            throw new InvalidDataException(
                $"{count} interval records in {body} bytes would take {decoded} bytes in a run of {drones} drone slots, over the limit of {MaxDecodedRecordBytes}");
        }

        var records = new IntervalRecord[count];
        var vt = start.ToArray();
        var (lastDrone, lastIndex) = (-1, 0);
        for (var i = 0; i < records.Length; i++)
        {
            Fields(ref reader, 4, "interval record");
            var drone = Drone(reader.ReadInt32(), drones);
            var index = reader.ReadInt32();

            // Records travel in (drone, interval) order, each once: a message cannot name one twice.
            if (drone < lastDrone || (drone == lastDrone && index <= lastIndex))
            {
                throw new InvalidDataException($"interval record {index} of drone {drone} after interval {lastIndex} of drone {lastDrone}: records go in drone and interval order, each once");
            }

            (lastDrone, lastIndex) = (drone, index);
            ReadTimestampChanges(ref reader, drones, vt, "interval record's VT");
            var pages = ReadInts(ref reader, "page");
            try
            {
                records[i] = new IntervalRecord(drone, index, new VectorTimestamp(vt), pages);
            }
            catch (ArgumentException error)
            {
                throw new InvalidDataException($"bad interval record: {error.Message}", error);
            }
        }

        return records;
    }

    /// <summary>Turns <paramref name="vt"/> (the VT before) into the one written after it (<see cref="WriteTimestampChanges"/>); errors name <paramref name="what"/>.</summary>
    private static void ReadTimestampChanges(ref MessagePackReader reader, int drones, int[] vt, string what)
    {
        var count = reader.ReadArrayHeader();
        var form = count > 0 ? reader.ReadInt32() : throw new InvalidDataException($"{what} is empty: no form, no entries");
        if (form == AllEntries && count == 1 + drones)
        {
            for (var d = 0; d < drones; d++)
            {
                vt[d] = NonNegative(reader.ReadInt32(), "VT entry");
            }

            return;
        }

        if (form != ChangedEntries || count % 2 != 1 || count > 1 + (2 * drones))
        {
            throw new InvalidDataException($"{what}: form {form} with {count - 1} numbers is neither index/value pairs nor the {drones} entries of the run");
        }

        var last = -1;
        for (var p = 0; p < count / 2; p++)
        {
            var entry = Drone(reader.ReadInt32(), drones);
            if (entry <= last)
            {
                throw new InvalidDataException($"{what} changes name drone {entry} after drone {last}");
            }

            vt[entry] = NonNegative(reader.ReadInt32(), "VT entry");
            last = entry;
        }
    }

    /// <summary>Reads an array header that must hold <paramref name="count"/> fields; throws <see cref="InvalidDataException"/> naming <paramref name="what"/> otherwise.</summary>
    internal static void Fields(ref MessagePackReader reader, int count, string what)
    {
        var actual = reader.ReadArrayHeader();
        if (actual != count)
        {
            throw new InvalidDataException($"{what} has {actual} fields, expected {count}");
        }
    }

    /// <summary>
    /// A count of pages in one request or reply, refused before an array is made for it past <see cref="MaxDecodedPages"/>:
    /// far above the <see cref="LrcEngine.MaxPagesPerDiffRequest"/> an honest one names (the engine refuses those past it,
    /// saying why), far below what a frame of one-byte items could claim.
    /// </summary>
    private static int PagesAtMost(int count, string what) =>
        count <= MaxDecodedPages ? count : throw new InvalidDataException($"{what}: {count}, more than the {MaxDecodedPages} a message may name");

    private static int Drone(int id, int drones) =>
        (uint)id < (uint)drones ? id : throw new InvalidDataException($"drone id {id} outside a run of {drones} drones");

    private static int NonNegative(int value, string what) =>
        value >= 0 ? value : throw new InvalidDataException($"{what} {value} is negative");
}
