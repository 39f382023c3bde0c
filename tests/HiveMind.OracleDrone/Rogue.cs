using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using HiveMind.Consistency;
using HiveMind.Launch;
using HiveMind.Net.Codec;
using HiveMind.Net.Transport;
using HiveMind.Wire;
using MessagePack;

namespace HiveMind.OracleDrone;

/// <summary>
/// A key holder gone wrong, for the hostile-member tests: <c>HiveMind.OracleDrone rogue --join HOST:PORT --key-file F
/// --drones N</c> (it attacks drones 0 .. N-1; with the run's --page-size, --heap-size and --gc-threshold, from which
/// its frame limit and the heap's pages follow). It joins the running run at the mesh level under one id after another
/// (drone 0 gives each an id, and each links to every drone) and sends every drone frames of every kind the protocol
/// knows: fields that name another drone, ids out of range, pages far outside the heap, bodies of the wrong shape, random
/// bytes, bodies at and over the frame limit. It never asks to join, so no drone ever admits it.
/// </summary>
/// <remarks>
/// A frame that must close its link is sent under an id of its own, and the rogue waits until every drone has closed
/// that link. The frames a drone must refuse with its link kept up go under one id that stays; requests among them
/// must come back refused, and each reply also proves that the drone handled everything sent before it. For every
/// frame the rogue prints what the receiving drone must have logged, as <c>ROGUE expect CASE A ... B ...</c> (a line of
/// the run's output holds A, then B, and so on); the test checks them against the drones' output. The
/// last line is <c>ROGUE done stayer=ID identities=N frames=M</c>, or <c>ROGUE FAILED: why</c> with exit code 1.
/// </remarks>
internal static class Rogue
{
    // How long a drone may take to close a link or answer a request before the rogue says it did not.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>Runs the rogue; returns the process exit code (0: every drone refused everything as it should).</summary>
    public static int Run(string[] args)
    {
        DroneOptions options;
        try
        {
            options = Tmk.ParseOptions<DroneOptions>(args);
            if (options.Join is null)
            {
                throw new OptionsException("--join: the rogue joins a running run; give drone 0's HOST:PORT.");
            }
        }
        catch (HelpRequestedException help)
        {
            Console.WriteLine(help.HelpText);
            return 0;
        }
        catch (OptionsException error)
        {
            Console.Error.WriteLine($"rogue: {error.Message}");
            return 2;
        }

        var mesh = options.ToMeshOptions(ClusterKeyFile.Load(options.KeyFile!)) with { HeartbeatInterval = TimeSpan.FromMilliseconds(100) };
        try
        {
            new Attack(mesh, options.JoinEndpoint, options.Drones, (int)(options.ToHeapOptions().HeapSize / options.PageSize)).Run();
            return 0;
        }
        catch (RogueFailure error)
        {
            Console.WriteLine($"ROGUE FAILED: {error.Message}");
            return 1;
        }
        catch (MeshException error)
        {
            Console.WriteLine($"ROGUE FAILED: a link of the rogue closed before it was done: {error.Message}");
            return 1;
        }
    }

    /// <summary>What the rogue expected of a drone and did not see.</summary>
    private sealed class RogueFailure(string message) : Exception(message);

    /// <summary>The drone a frame goes to, the rogue's id, another drone of the run, and the run's slots, frame limit and pages.</summary>
    private readonly record struct Target(int Drone, int Self, int Victim, int Slots, int FrameLimit, int Pages)
    {
        /// <summary>A VT of the run's length, all zero.</summary>
        public int[] Vt => new int[Slots];
    }

    private delegate void BodyWrite(ref MessagePackWriter writer);

    /// <summary>A frame that must end its link (or its connection), with the reason the receiving drone's log gives.</summary>
    /// <remarks><paramref name="AtLimit"/>: the frame is exactly the frame limit, which the rogue checks by its own node refusing one byte more.</remarks>
    private sealed record Closing(string Name, byte Kind, Func<Target, byte[]> Body, string Reason, bool Request = false, int ExtraFrameRoom = 0, bool AtLimit = false);

    /// <summary>
    /// A frame the drone must refuse with the link kept up, with the reason its log gives. One in the rogue's own name
    /// (<paramref name="InOwnName"/>) drone 0 refuses because the rogue never asked to join; a member cannot know that and
    /// keeps it, within its bound for drones not yet admitted, for an admission that never comes (null: no log). A drone
    /// other than 0 gives <paramref name="ReasonAtMembers"/> instead, when there is one (an arrival, which goes to drone 0 alone).
    /// </summary>
    private sealed record Refused(string Name, byte Kind, Func<Target, byte[]> Body, string? Reason, bool InOwnName = false, bool AtLimit = false, string? ReasonAtMembers = null);

    /// <summary>A request the drone must answer with an error holding <paramref name="Reason"/> (drone 0: <paramref name="ReasonAtDroneZero"/>, when given).</summary>
    private sealed record Rejected(string Name, byte Kind, Func<Target, byte[]> Body, string Reason, string? ReasonAtDroneZero = null);

    private sealed class Attack(MeshOptions options, IPEndPoint registry, int drones, int pages)
    {
        private readonly Random _random = new(20240611);
        private readonly int[] _targets = [.. Enumerable.Range(0, drones)];
        private int _identities;
        private int _frames;

        public void Run()
        {
            Console.WriteLine($"ROGUE targets={string.Join(',', _targets)} frame-limit={options.MaxFrameBytes}");
            foreach (var closing in ClosingFrames())
            {
                SendUnderNewId(closing);
            }

            var stayer = SendUnderOneId();
            Console.WriteLine($"ROGUE done stayer={stayer} identities={_identities} frames={_frames}");
        }

        /// <summary>Joins under a new id, sends <paramref name="closing"/> to every drone of the run and waits until each has ended the link.</summary>
        private void SendUnderNewId(Closing closing)
        {
            var pending = new List<(int Drone, Task<Reply> Reply)>();
            int id;
            using (var identity = Join(options with { MaxFrameBytes = options.MaxFrameBytes + closing.ExtraFrameRoom }))
            {
                id = identity.Id;
                foreach (var drone in _targets)
                {
                    var target = TargetFor(identity, drone);
                    var body = closing.Body(target);
                    if (closing.AtLimit)
                    {
                        CheckAtLimit(identity, drone, closing.Kind, body);
                    }

                    Count(closing.Name, closing.Kind);

                    // "drone D: drone R failed: REASON" when the link closes for good; a connection that breaks on it (the link
                    // may be carried on by a new one) says "drone D: the connection to drone R broke (REASON)".
                    Expect(closing.Name, $"drone {drone}: ", $"drone {identity.Id} ", closing.Reason);
                    if (closing.Request)
                    {
                        pending.Add((drone, identity.Node.RequestAsync(drone, closing.Kind, body, static (ref MessagePackWriter w, byte[] b) => w.WriteRaw(b), Timeout.InfiniteTimeSpan)));
                    }
                    else
                    {
                        identity.Node.Send(drone, closing.Kind, body, static (ref MessagePackWriter w, byte[] b) => w.WriteRaw(b));
                    }
                }

                foreach (var drone in _targets)
                {
                    if (!identity.WaitEnded(drone, Patience))
                    {
                        throw new RogueFailure($"drone {drone} kept the link of drone {identity.Id} up {Patience.TotalSeconds:F0} s after its {closing.Name} frame");
                    }
                }
            }

            // The id is gone: a request still waiting has failed with it.
            foreach (var (drone, reply) in pending.Where(p => p.Reply.Status == TaskStatus.RanToCompletion))
            {
                throw new RogueFailure($"drone {drone} answered the {closing.Name} request of drone {id}, though it ended the link");
            }
        }

        /// <summary>Joins under one id and sends every drone the frames it must refuse with the link up; returns the id.</summary>
        private int SendUnderOneId()
        {
            using var identity = Join(options);
            foreach (var drone in _targets)
            {
                var target = TargetFor(identity, drone);
                foreach (var refused in RefusedFrames())
                {
                    var body = refused.Body(target);
                    if (refused.AtLimit)
                    {
                        CheckAtLimit(identity, drone, refused.Kind, body);
                    }

                    Count(refused.Name, refused.Kind);
                    var reason = refused.InOwnName && drone == LrcEngine.BarrierManagerDrone
                        ? $"Drone {drone}: drone {identity.Id} is not in the run and has not asked to join it; its {ProtocolCodec.Name(refused.Kind)} is refused."
                        : (drone != LrcEngine.BarrierManagerDrone ? refused.ReasonAtMembers ?? refused.Reason : refused.Reason)?.Replace("{D}", drone.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
                    if (reason is not null)
                    {
                        Expect(refused.Name, $"drone {drone}: handling {ProtocolCodec.Name(refused.Kind)} from drone {identity.Id} failed (the link stays up): ", reason);
                    }

                    identity.Node.Send(drone, refused.Kind, body, static (ref MessagePackWriter w, byte[] b) => w.WriteRaw(b));
                }

                // Replies to requests nobody made: guessed request ids, 0 and the largest.
                foreach (var id in new ulong[] { 1, 2, 3, 17, ulong.MaxValue })
                {
                    identity.Node.Reply(drone, id, id, static (ref MessagePackWriter w, ulong v) => w.Write(v));
                    identity.Node.ReplyError(drone, id, "a forged error reply");
                    _frames += 2;
                }

                identity.Node.ReplyError(drone, 0, "an error reply to request 0");
                _frames++;
            }

            // Each request is answered only after the frames before it were handled: its reply is also the fence.
            foreach (var drone in _targets)
            {
                var target = TargetFor(identity, drone);
                foreach (var rejected in RejectedRequests())
                {
                    Count(rejected.Name, rejected.Kind);
                    var reason = (drone == 0 ? rejected.ReasonAtDroneZero ?? rejected.Reason : rejected.Reason).Replace("{D}", drone.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
                    Expect(rejected.Name, $"drone {drone}: could not answer request ", $" of drone {identity.Id}: ", reason);
                    var reply = identity.Node.RequestAsync(drone, rejected.Kind, rejected.Body(target), static (ref MessagePackWriter w, byte[] b) => w.WriteRaw(b), Patience);
                    if (!Settles(reply, Patience + TimeSpan.FromSeconds(1)))
                    {
                        throw new RogueFailure($"drone {drone} neither answered nor refused the {rejected.Name} request of drone {identity.Id}");
                    }

                    if (reply.Exception?.InnerException is not MeshException refusal)
                    {
                        throw new RogueFailure($"drone {drone} answered the {rejected.Name} request of drone {identity.Id}{(reply.Exception is { } other ? $" ({other.InnerException?.Message})" : string.Empty)}");
                    }

                    if (!refusal.Message.Contains(reason, StringComparison.Ordinal))
                    {
                        throw new RogueFailure($"drone {drone} refused the {rejected.Name} request of drone {identity.Id} with '{refusal.Message}', not with '{reason}'");
                    }

                    Console.WriteLine($"ROGUE refused drone={drone} case={rejected.Name}: {refusal.Message}");
                }
            }

            foreach (var drone in _targets)
            {
                if (identity.Node.GetLink(drone) is null)
                {
                    throw new RogueFailure($"drone {drone} closed the link of drone {identity.Id}, which sent only frames that decode ({identity.ClosedReason(drone)})");
                }
            }

            return identity.Id;
        }

        /// <summary>
        /// Joins under a new id whose links every target has taken: each answers a probe (a request for a page outside
        /// the heap, refused). A member may refuse the link of an id whose announcement from drone 0 it has not read yet
        /// (the newcomer's connection can overtake it); such an id is given up and the next one tried.
        /// </summary>
        private Identity Join(MeshOptions with)
        {
            for (var attempt = 1; ; attempt++)
            {
                var identity = new Identity(with, registry);
                _identities++;
                Console.WriteLine($"ROGUE identity={identity.Id}");
                var refusedBy = _targets.Where(drone => !Probe(identity, drone)).ToList();
                if (refusedBy.Count == 0)
                {
                    return identity;
                }

                var why = string.Join("; ", refusedBy.Select(d => $"drone {d}: {identity.ClosedReason(d)}"));
                identity.Dispose();
                if (attempt == 3)
                {
                    throw new RogueFailure($"{attempt} ids in a row were not linked to every drone; the last, drone {identity.Id}: {why}");
                }

                Console.WriteLine($"ROGUE retry: drone {identity.Id} has no link to every drone ({why})");
            }
        }

        /// <summary>Whether <paramref name="drone"/> answers a request of <paramref name="identity"/> (refusing it, as it must).</summary>
        private bool Probe(Identity identity, int drone)
        {
            Count("probe", ProtocolCodec.PageRequestKind);
            Task<Reply> reply;
            try
            {
                reply = identity.Node.RequestAsync(drone, ProtocolCodec.PageRequestKind, 1 << 30, static (ref MessagePackWriter w, int page) => ProtocolCodec.Write(ref w, new PageRequest([page])), Patience);
            }
            catch (MeshException)
            {
                return false; // no link
            }

            // A link the drone did not take ends (breaks or closes) before any reply.
            if (Task.WaitAny([reply, identity.Ended(drone)], Patience + TimeSpan.FromSeconds(1)) < 0)
            {
                throw new RogueFailure($"drone {drone} neither answered nor refused the probe of drone {identity.Id}");
            }

            if (!reply.IsCompleted)
            {
                return false;
            }

            if (reply.Exception?.InnerException is MeshException refusal && refusal.Message.Contains("outside the heap", StringComparison.Ordinal))
            {
                Expect("probe", $"drone {drone}: could not answer request ", $" of drone {identity.Id}: ", "asked for page 1073741824, outside the heap");
                return true;
            }

            if (identity.Ended(drone).IsCompleted)
            {
                return false;
            }

            throw new RogueFailure($"drone {drone} answered the probe of drone {identity.Id} (a request for page 2^30) with {reply.Exception?.InnerException?.Message ?? "a page"}");
        }

        private Target TargetFor(Identity identity, int drone) =>
            new(drone, identity.Id, _targets.FirstOrDefault(t => t != drone && t != 0, 0), identity.Slots, options.MaxFrameBytes, pages);

        /// <summary>Checks that a frame of <paramref name="kind"/> with <paramref name="body"/> is the frame limit exactly: this node refuses one byte more.</summary>
        private static void CheckAtLimit(Identity identity, int drone, byte kind, byte[] body)
        {
            try
            {
                identity.Node.Send(drone, kind, body, static (ref MessagePackWriter w, byte[] b) =>
                {
                    w.WriteRaw(b);
                    w.WriteNil();
                });
            }
            catch (MeshException error) when (error.Message.Contains("over the run's frame limit", StringComparison.Ordinal))
            {
                return;
            }

            throw new RogueFailure($"a {ProtocolCodec.Name(kind)} frame of {body.Length} bytes of body is not at the frame limit: one byte more went out");
        }

        private static void Expect(string name, params string[] fragments) => Console.WriteLine($"ROGUE expect {name} {string.Join(" ... ", fragments)}");

        /// <summary>Whether <paramref name="task"/> completes (or fails) within <paramref name="timeout"/>.</summary>
        private static bool Settles(Task task, TimeSpan timeout)
        {
            try
            {
                return task.Wait(timeout);
            }
            catch (AggregateException)
            {
                return true;
            }
        }

        private void Count(string name, byte kind)
        {
            _frames++;
            Console.WriteLine($"ROGUE sent kind={ProtocolCodec.Name(kind)} case={name}");
        }

        // ------------------------------------------------------------------ the frames

        /// <summary>Frames that do not decode (or may not come at all): each closes its link.</summary>
        private IEnumerable<Closing> ClosingFrames()
        {
            // Random bytes under every kind the protocol knows; MessagePack's never-used code first, so they never decode by chance.
            foreach (var kind in ProtocolKinds())
            {
                var noise = new byte[64];
                _random.NextBytes(noise);
                noise[0] = 0xc1;
                var reason = ProtocolCodec.IsReplyKind(kind) ? $"unexpected kind {kind} from drone" : $"malformed {ProtocolCodec.Name(kind)} body (the reader stopped at byte ... Unexpected msgpack code 193 ((never used))";
                yield return new Closing($"random-bytes-{ProtocolCodec.Name(kind)}", kind, _ => noise, reason);
            }

            yield return new Closing("lock-request-of-5-fields", ProtocolCodec.LockRequestKind, t => Encode((ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(5);
                w.Write(0);
                w.Write(t.Self);
                w.Write(1L);
                WriteInts(ref w, t.Vt);
                w.Write(0);
            }), "LockRequest has 5 fields, expected 7");
            yield return new Closing("barrier-arrival-with-a-string-barrier", ProtocolCodec.BarrierArrivalKind, t => Encode((ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(6);
                w.Write("barrier zero");
                w.Write(t.Self);
                w.Write(0);
                WriteWholeVt(ref w, t.Vt);
                w.WriteArrayHeader(0);
                w.Write(false);
            }), "Unexpected msgpack code 172 (fixstr)");
            yield return new Closing("lock-request-from-drone-1000", ProtocolCodec.LockRequestKind, t => Encode(new LockRequest(0, 1000, 1, t.Vt)), "drone id 1000 outside a run of");
            yield return new Closing("suspicion-of-drone-minus-1", ProtocolCodec.SuspicionKind, t => Encode((ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(4);
                w.Write(-1);
                w.Write(t.Self);
                w.Write("forged");
                w.Write(false);
            }), "drone id -1 outside a run of");
            yield return new Closing("view-change-with-drone-999", ProtocolCodec.ViewChangeKind, _ => Encode(new ViewChange(7, [0, 999])), "drone id 999 outside a run of");
            yield return new Closing("lock-reset-naming-drone-4000", ProtocolCodec.LockResetKind, _ => Encode(new LockReset(1, [new LockAssignment(0, true, null, 4000, [], [], null)])), "drone id 4000 outside a run of");
            yield return new Closing("lock-request-with-a-vt-of-3", ProtocolCodec.LockRequestKind, t => Encode(new LockRequest(0, t.Self, 1, [0, 0, 0])), "VT of 3 entries in a run of");
            yield return new Closing("page-request-for-page-minus-1", ProtocolCodec.PageRequestKind, _ => Encode(new PageRequest([0, -1])), "page -1 is negative", Request: true);
            yield return new Closing("page-request-of-a-string", ProtocolCodec.PageRequestKind, _ => Encode((ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(2);
                w.Write(0);
                w.Write("page one");
            }), "Unexpected msgpack code 168 (fixstr)", Request: true);
            yield return new Closing("lock-grant-of-lock-minus-5", ProtocolCodec.LockGrantKind, t => Encode(new LockGrant(-5, 1, t.Vt, [])), "lock -5 is negative");
            yield return new Closing("barrier-arrival-with-interval-0", ProtocolCodec.BarrierArrivalKind, t => Encode((ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(6);
                w.Write(0);
                w.Write(t.Self);
                w.Write(0); // against no release: the VT whole
                WriteWholeVt(ref w, t.Vt);

                w.WriteArrayHeader(1);
                w.WriteArrayHeader(4);
                w.Write(t.Self);
                w.Write(0);
                WriteWholeVt(ref w, t.Vt); // the record's VT whole, as the wire carries it

                WriteInts(ref w, [1 << 30]);
                w.Write(false);
            }), "bad interval record");
            yield return new Closing("barrier-arrival-against-release-999", ProtocolCodec.BarrierArrivalKind, t => Encode(new BarrierArrival(0, t.Self, t.Vt, [], false, new ReleaseBase(999, t.Vt))), "changes since release 999, which this drone does not keep");
            yield return new Closing("diff-reply-unasked", ProtocolCodec.DiffReplyKind, _ => Encode(new DiffReply([new PageDiffs(1 << 30, [new CoveredDiff(1, 1, new byte[16])])])), $"unexpected kind {ProtocolCodec.DiffReplyKind} from drone");
            yield return new Closing("page-reply-as-a-request", ProtocolCodec.PageReplyKind, t => Encode(new PageReply([new PageCopy(1 << 30, new byte[4096], t.Vt)])), $"unexpected kind {ProtocolCodec.PageReplyKind} from drone", Request: true);
            yield return new Closing("unknown-kind-200", 200, t => Encode(new PageRequest([0])), "unexpected kind 200 from drone");
            yield return new Closing("unknown-kind-43", MessageKind.FirstApplicationKind + 27, t => Encode(new PageRequest([0])), $"unexpected kind {MessageKind.FirstApplicationKind + 27} from drone");
            yield return new Closing("allocate-request-one-way", ProtocolCodec.AllocateRequestKind, _ => Encode((ref MessagePackWriter w) => AllocationCodec.Write(ref w, new AllocateRequest(64, 16))), "sent AllocateRequest one-way, but it is a request");
            yield return new Closing("peer-table-from-a-member", MessageKind.PeerTable, t => Encode((ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(1);
                w.WriteArrayHeader(3);
                w.Write(t.Victim);
                w.Write("127.0.0.1");
                w.Write(1);
            }), "unexpected PeerTable from drone");
            yield return new Closing("diff-request-claiming-2^31-pages", ProtocolCodec.DiffRequestKind, _ => [0xdd, 0x7f, 0xff, 0xff, 0xff, 0x92, 0x00, 0x90], "malformed DiffRequest body (the reader stopped at byte ... a length or count reaches past its end", Request: true);
            yield return new Closing("page-request-claiming-2^31-pages", ProtocolCodec.PageRequestKind, _ => [0xdd, 0x7f, 0xff, 0xff, 0xff, 0x00, 0x01], "malformed PageRequest body (the reader stopped at byte ... a length or count reaches past its end", Request: true);
            yield return new Closing("reply-nested-100000-deep", MessageKind.Response, _ => [.. Enumerable.Repeat((byte)0x91, 100_000), 0xc0], "nested array or map level(s)");

            // At the frame limit exactly: a barrier arrival whose record count is all the bytes left (each taken for a record),
            // refused before anything is allocated for them.
            yield return new Closing("barrier-arrival-at-the-frame-limit-claiming-a-record-per-byte", ProtocolCodec.BarrierArrivalKind, t =>
            {
                var head = Encode((ref MessagePackWriter w) =>
                {
                    w.WriteArrayHeader(6);
                    w.Write(0);
                    w.Write(t.Self);
                    w.Write(0);
                    WriteWholeVt(ref w, t.Vt);
                });
                var body = new byte[BodyAtLimit(t.FrameLimit, ProtocolCodec.BarrierArrivalKind)];
                head.CopyTo(body, 0);
                var left = body.Length - head.Length - 5;
                body[head.Length] = 0xdd;
                System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(body.AsSpan(head.Length + 1), left);
                body.AsSpan(head.Length + 5).Fill(0x90);
                return body;
            }, "over the limit of 1073741824", AtLimit: true);

            // Over the frame limit by one byte: refused by its length alone (this id's own limit is raised to send it).
            yield return new Closing("frame-over-the-limit", ProtocolCodec.LockRequestKind, t =>
            {
                var body = new byte[BodyAtLimit(t.FrameLimit, ProtocolCodec.LockRequestKind) + 1];
                body[0] = 0xc4; // not read: the length prefix closes the link first
                return body;
            }, "is outside 1..", ExtraFrameRoom: 1024);
        }

        // What a drone other than 0 says of any arrival: only the barrier manager takes them.
        private const string ArrivalAtAMember = "Drone {D}: unexpected BarrierArrival from drone ... it goes to the barrier manager (drone 0) alone";

        /// <summary>Frames that decode: every drone must refuse them with a logged reason, or hold them within its bound, and keep the link up.</summary>
        private static IEnumerable<Refused> RefusedFrames()
        {
            // Fields that name another drone (the run's drone "victim", or drone 0).
            yield return new Refused("lock-request-naming-another-requester", ProtocolCodec.LockRequestKind, t => Encode(new LockRequest(1 << 30, t.Victim, 1, t.Vt)), "Drone {D}: unexpected LockRequest from drone");
            yield return new Refused("barrier-arrival-naming-another-drone", ProtocolCodec.BarrierArrivalKind, t => Encode(new BarrierArrival(1 << 30, t.Victim, t.Vt, [], true)), "Drone {D}: unexpected BarrierArrival from drone");
            yield return new Refused("barrier-arrival-naming-drone-0", ProtocolCodec.BarrierArrivalKind, t => Encode(new BarrierArrival(0, 0, t.Vt, [], false)), "Drone {D}: unexpected BarrierArrival from drone");
            yield return new Refused("suspicion-reported-for-another-drone", ProtocolCodec.SuspicionKind, t => Encode(new Suspicion(t.Victim, t.Victim, "forged in another's name")), "Drone {D}: unexpected Suspicion from drone");
            yield return new Refused("suspicion-reported-for-drone-0", ProtocolCodec.SuspicionKind, t => Encode(new Suspicion(t.Victim, 0, "forged in drone 0's name")), "Drone {D}: unexpected Suspicion from drone");
            yield return new Refused("lock-report-naming-another-drone", ProtocolCodec.LockReportKind, t => Encode(new LockReport(0, t.Victim, t.Vt, [], [new LockSnapshot(0, true, false, false, 1)])), "Drone {D}: unexpected LockReport from drone");
            yield return new Refused("join-request-naming-another-drone", ProtocolCodec.JoinRequestKind, t => Encode(new JoinRequest(t.Victim)), "Drone {D}: unexpected JoinRequest from drone");

            // What only drone 0 may say.
            yield return new Refused("view-change-not-from-drone-0", ProtocolCodec.ViewChangeKind, t => Encode(new ViewChange(99, [0, t.Self])), "Drone {D}: unexpected ViewChange from drone");
            yield return new Refused("barrier-release-not-from-drone-0", ProtocolCodec.BarrierReleaseKind, t => Encode(new BarrierRelease(2, t.Vt, [], true)), "Drone {D}: unexpected BarrierRelease from drone");
            yield return new Refused("lock-reset-not-from-drone-0", ProtocolCodec.LockResetKind, t => Encode(new LockReset(1, [new LockAssignment(0, true, null, t.Self, [], [], null)])), "Drone {D}: unexpected LockReset from drone");
            yield return new Refused("join-request-in-its-own-name-to-a-member", ProtocolCodec.JoinRequestKind, t => Encode(new JoinRequest(t.Drone == 0 ? t.Victim : t.Self)), "Drone {D}: unexpected JoinRequest from drone");
            yield return new Refused("join-welcome-not-from-drone-0", ProtocolCodec.JoinWelcomeKind, t => Encode(new JoinWelcome(9, [0, t.Self], [], 2, t.Vt, [new PageHolders(0, 1 << 20, [t.Self])], 1, 4096, 1L << 40, [0, 0])), "Drone {D}: unexpected JoinWelcome from drone");

            // Requests never come one-way.
            yield return new Refused("page-request-one-way", ProtocolCodec.PageRequestKind, _ => Encode(new PageRequest([0, 1])), "Drone {D}: unexpected PageRequest from drone");
            yield return new Refused("diff-request-one-way", ProtocolCodec.DiffRequestKind, _ => Encode(new DiffRequest([new PageIntervals(1 << 30, [1])])), "Drone {D}: unexpected DiffRequest from drone");

            // Well-formed, in the rogue's own name, with ids out of range: a drone not yet admitted may leave them, bounded
            // (but for arrivals, which a member refuses: they go to drone 0 alone).
            yield return new Refused("lock-request-for-lock-2^30", ProtocolCodec.LockRequestKind, t => Encode(new LockRequest(1 << 30, t.Self, long.MaxValue, t.Vt, int.MaxValue, 1)), null, InOwnName: true);
            yield return new Refused("forwarded-request-for-another-drone", ProtocolCodec.ForwardedLockRequestKind, t => Encode(new ForwardedLockRequest(new LockRequest(0, t.Victim, 1, t.Vt))), null, InOwnName: true);
            yield return new Refused("lock-grant-unasked", ProtocolCodec.LockGrantKind, t => Encode(new LockGrant(0, 1, t.Vt, [Record(t, 1, 0)], 0, 12345)), null, InOwnName: true);
            yield return new Refused("barrier-arrival-at-barrier-minus-2", ProtocolCodec.BarrierArrivalKind, t => Encode(new BarrierArrival(-2, t.Self, t.Vt, [Record(t, 1, t.Pages - 1)], true)), null, InOwnName: true, ReasonAtMembers: ArrivalAtAMember);
            yield return new Refused("suspicion-of-another-drone", ProtocolCodec.SuspicionKind, t => Encode(new Suspicion(t.Victim, t.Self, "it looked at me")), null, InOwnName: true);
            yield return new Refused("lock-report-of-lock-2^30", ProtocolCodec.LockReportKind, t => Encode(new LockReport(int.MaxValue, t.Self, t.Vt, [], [new LockSnapshot(1 << 30, true, true, false, 1)])), null, InOwnName: true);

            // Write notices of pages outside the heap: every drone refuses them where they come in (they would travel on to all).
            yield return new Refused("lock-grant-noticing-page-2^30", ProtocolCodec.LockGrantKind, t => Encode(new LockGrant(0, 1, t.Vt, [Record(t, 1, 1 << 30)], 0, 12345)), "for page 1073741824, outside the heap");
            yield return new Refused("barrier-arrival-noticing-page-2^30", ProtocolCodec.BarrierArrivalKind, t => Encode(new BarrierArrival(0, t.Self, t.Vt, [Record(t, 1, 0, 1 << 30)], false)), "for page 1073741824, outside the heap", ReasonAtMembers: ArrivalAtAMember);
            yield return new Refused("lock-report-noticing-the-page-past-the-heap", ProtocolCodec.LockReportKind, t => Encode(new LockReport(0, t.Self, t.Vt, [Record(t, 1, t.Pages)], [])), "outside the heap of");

            // More than a drone not yet admitted may leave: records of ~1.2 MB in all, then a string of the whole frame limit.
            yield return new Refused("lock-report-beyond-the-bound-for-drones-not-admitted", ProtocolCodec.LockReportKind, t => Encode(new LockReport(3, t.Self, t.Vt, [Record(t, 2, [.. Enumerable.Range(0, 300_000).Select(p => p % t.Pages)])], [])), "sent more than it may before its view", InOwnName: true);
            yield return new Refused("suspicion-at-the-frame-limit", ProtocolCodec.SuspicionKind, t =>
            {
                var text = Encode(new Suspicion(t.Victim, t.Self, string.Empty));
                var length = BodyAtLimit(t.FrameLimit, ProtocolCodec.SuspicionKind) - text.Length - 4; // a str32 header instead of a fixstr one
                return Encode((ref MessagePackWriter w) =>
                {
                    w.WriteArrayHeader(4);
                    w.Write(t.Victim);
                    w.Write(t.Self);
                    w.Write(new string('x', length));
                    w.Write(false);
                });
            }, "sent more than it may before its view", InOwnName: true, AtLimit: true);
        }

        /// <summary>Requests every drone must answer with an error (and log), whoever asks.</summary>
        private IEnumerable<Rejected> RejectedRequests()
        {
            yield return new Rejected("page-request-for-page-2^30", ProtocolCodec.PageRequestKind, _ => Encode(new PageRequest([1 << 30])), "asked for page 1073741824, outside the heap");
            yield return new Rejected("page-request-for-the-page-past-the-heap", ProtocolCodec.PageRequestKind, t => Encode(new PageRequest([0, t.Pages])), $"asked for page {pages}, outside the heap of {pages} pages");
            yield return new Rejected("page-request-for-65-pages", ProtocolCodec.PageRequestKind, _ => Encode(new PageRequest([.. Enumerable.Range(0, LrcEngine.MaxPagesPerDiffRequest + 1)])), $"asked for {LrcEngine.MaxPagesPerDiffRequest + 1} whole page(s) in one request (1 to ");
            yield return new Rejected("page-request-for-no-page", ProtocolCodec.PageRequestKind, _ => Encode(new PageRequest([])), "asked for 0 whole page(s) in one request (1 to ");
            yield return new Rejected("page-request-naming-a-page-twice", ProtocolCodec.PageRequestKind, _ => Encode(new PageRequest([0, 1, 0])), "asked for page 0 twice in one request of 3 page(s)");
            yield return new Rejected("diff-request-for-page-2^30", ProtocolCodec.DiffRequestKind, _ => Encode(new DiffRequest([new PageIntervals(1 << 30, [1])])), "asked for diffs of 1 page(s)");
            yield return new Rejected("diff-request-for-65-pages", ProtocolCodec.DiffRequestKind, _ => Encode(new DiffRequest([.. Enumerable.Range(0, LrcEngine.MaxPagesPerDiffRequest + 1).Select(p => new PageIntervals(p, [1]))])), $"asked for diffs of {LrcEngine.MaxPagesPerDiffRequest + 1} page(s)");

            // Allocation requests: malformed ones refused by every drone, well-formed ones by drone 0 (the rogue is not in the
            // run) and by the others (only drone 0 allocates).
            yield return new Rejected("allocate-request-of-a-string", ProtocolCodec.AllocateRequestKind, _ => Encode((ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(2);
                w.Write("all of it");
                w.Write(16);
            }), "malformed AllocateRequest body");
            yield return new Rejected("allocate-request-of-2^62-bytes", ProtocolCodec.AllocateRequestKind, _ => Encode((ref MessagePackWriter w) => AllocationCodec.Write(ref w, new AllocateRequest(1L << 62, 16))), "AllocateRequest of 4611686018427387904 bytes");
            yield return new Rejected("free-request-of-2-fields", ProtocolCodec.FreeRequestKind, _ => Encode((ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(2);
                w.Write(64L);
                w.Write(64L);
            }), "FreeRequest has 2 fields, expected 1");
            yield return new Rejected("allocate-request-of-a-drone-outside-the-run", ProtocolCodec.AllocateRequestKind, _ => Encode((ref MessagePackWriter w) => AllocationCodec.Write(ref w, new AllocateRequest(64, 16))), "drone {D} is not the run's allocator (drone 0 is)", "is not in the run");
            yield return new Rejected("free-request-of-a-drone-outside-the-run", ProtocolCodec.FreeRequestKind, _ => Encode((ref MessagePackWriter w) => AllocationCodec.Write(ref w, new FreeRequest(64))), "drone {D} is not the run's allocator (drone 0 is)", "is not in the run");

            foreach (var kind in ProtocolKinds().Where(k => !ProtocolCodec.IsReplyKind(k) && k is not (ProtocolCodec.PageRequestKind or ProtocolCodec.DiffRequestKind)))
            {
                var message = OneWay(kind);
                yield return new Rejected($"{ProtocolCodec.Name(kind)}-as-a-request", kind, message, $"{ProtocolCodec.Name(kind)} from drone");
            }
        }

        /// <summary>A well-formed message of a one-way kind, in the rogue's own name.</summary>
        private static Func<Target, byte[]> OneWay(byte kind) => kind switch
        {
            ProtocolCodec.LockRequestKind => t => Encode(new LockRequest(0, t.Self, 1, t.Vt)),
            ProtocolCodec.ForwardedLockRequestKind => t => Encode(new ForwardedLockRequest(new LockRequest(0, t.Self, 1, t.Vt))),
            ProtocolCodec.LockGrantKind => t => Encode(new LockGrant(0, 1, t.Vt, [])),
            ProtocolCodec.LockBusyKind => _ => Encode(new LockBusy(0, 1, 0, 12345)),
            ProtocolCodec.BarrierArrivalKind => t => Encode(new BarrierArrival(0, t.Self, t.Vt, [], false)),
            ProtocolCodec.BarrierReleaseKind => t => Encode(new BarrierRelease(0, t.Vt, [], false)),
            ProtocolCodec.SuspicionKind => t => Encode(new Suspicion(t.Victim, t.Self, "asked")),
            ProtocolCodec.ViewChangeKind => t => Encode(new ViewChange(1, [0])),
            ProtocolCodec.LockReportKind => t => Encode(new LockReport(0, t.Self, t.Vt, [], [])),
            ProtocolCodec.LockResetKind => _ => Encode(new LockReset(1, [])),
            ProtocolCodec.JoinRequestKind => t => Encode(new JoinRequest(t.Self)),
            ProtocolCodec.JoinWelcomeKind => t => Encode(new JoinWelcome(1, [0], [], 0, t.Vt, [], 1, 4096, 4096, [])),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a one-way kind"),
        };

        private static IEnumerable<byte> ProtocolKinds() =>
            Enumerable.Range(0, 256).Select(k => (byte)k).Where(ProtocolCodec.IsProtocolKind);

        /// <summary>The body of a frame of <paramref name="kind"/> that makes it exactly <paramref name="limit"/> bytes: [kind, request id 0, body].</summary>
        private static int BodyAtLimit(int limit, byte kind) => limit - Encode((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(3);
            w.Write(kind);
            w.Write(0UL);
        }).Length;

        private static IntervalRecord Record(Target target, int index, params int[] pages)
        {
            var vt = new VectorTimestamp(target.Slots);
            vt.Set(target.Self, index);
            return new IntervalRecord(target.Self, index, vt, pages);
        }

        private static byte[] Encode(ProtocolMessage message) => Encode((ref MessagePackWriter w) => ProtocolCodec.Write(ref w, message));

        private static byte[] Encode(BodyWrite write)
        {
            var buffer = new ArrayBufferWriter<byte>();
            var writer = new MessagePackWriter(buffer);
            write(ref writer);
            writer.Flush();
            return buffer.WrittenSpan.ToArray();
        }

        private static void WriteInts(ref MessagePackWriter writer, int[] values)
        {
            writer.WriteArrayHeader(values.Length);
            foreach (var value in values)
            {
                writer.Write(value);
            }
        }

        // A VT whole, as the wire carries one that is not given as changes: form 1, then every entry.
        private static void WriteWholeVt(ref MessagePackWriter writer, int[] vt)
        {
            writer.WriteArrayHeader(1 + vt.Length);
            writer.Write(1);
            foreach (var entry in vt)
            {
                writer.Write(entry);
            }
        }
    }

    /// <summary>One id of the rogue: a mesh node that joined the run and links to every drone.</summary>
    private sealed class Identity : IDisposable
    {
        // Each drone's end of this id's link, with why: the drone closed the connection (the link broke, and would be
        // dialed again), or the link closed for good.
        private readonly ConcurrentDictionary<int, TaskCompletionSource<string>> _ended = new();

        public Identity(MeshOptions options, IPEndPoint registry)
        {
            Node = new MeshNode(MeshNode.Newcomer, options, new Ignorer());
            Node.LinkBroken += OnEnded;
            Node.PeerFailed += OnEnded;
            try
            {
                Slots = Node.JoinMesh(registry, TimeSpan.FromSeconds(30));
            }
            catch
            {
                Node.Dispose();
                throw;
            }
        }

        public MeshNode Node { get; }

        public int Id => Node.Id;

        /// <summary>The run's drone slots (ids are below).</summary>
        public int Slots { get; }

        /// <summary>Completes, with the reason, when <paramref name="drone"/> has ended this id's link (broken or closed).</summary>
        public Task<string> Ended(int drone) => EndOf(drone).Task;

        public string ClosedReason(int drone) => Ended(drone) is { IsCompletedSuccessfully: true } ended ? ended.Result : "no reason seen";

        /// <summary>Whether <paramref name="drone"/> ends this id's link within <paramref name="timeout"/>.</summary>
        public bool WaitEnded(int drone, TimeSpan timeout) => Ended(drone).Wait(timeout);

        public void Dispose()
        {
            try
            {
                Node.Dispose();
            }
            catch (ThreadStateException error)
            {
                // The rogue's own node, not a drone: noted, and the rogue goes on.
                Console.WriteLine($"ROGUE note: disposing the node of drone {Id} failed: {error.Message}");
            }
        }

        private TaskCompletionSource<string> EndOf(int drone) =>
            _ended.GetOrAdd(drone, _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));

        private void OnEnded(int peer, string reason) => EndOf(peer).TrySetResult(reason);
    }

    /// <summary>Takes whatever the drones send a rogue (they send it nothing of the protocol) and drops it.</summary>
    private sealed class Ignorer : IFrameConsumer
    {
        public bool IsKnownKind(byte kind) => ProtocolCodec.IsProtocolKind(kind);

        public void OnFrame(MeshNode node, int peer, byte kind, ulong requestId, ref MessagePackReader body) => body.SkipValue();
    }
}
