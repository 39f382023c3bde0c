using HiveMind.Allocation;
using HiveMind.Consistency;
using HiveMind.Net.Transport;
using HiveMind.Wire;
using MessagePack;

namespace HiveMind.DroneTests;

/// <summary>Malloc and Free from every drone (requests to drone 0's allocator), and the collective allocation every drone makes at once.</summary>
public sealed class AllocationTests
{
    private const int BlocksPerDrone = 12;

    /// <summary>
    /// Drones 1 and 2 allocate at once (each a request to drone 0), write their blocks and publish them: after a barrier
    /// every drone reads every block as written, the blocks are drone 0's live blocks, and no two overlap.
    /// </summary>
    [Fact]
    public void Malloc_FromDronesOneAndTwoAtOnce_GivesBlocksEveryDroneReads()
    {
        using var cluster = new DroneCluster(3);
        var sizes = Enumerable.Range(0, BlocksPerDrone).Select(i => 16L + (i * 40)).ToArray();
        var blocks = new long[3][];
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var table = drone.Array<long>(drone.Distribute(id == 0 ? drone.Malloc(3 * BlocksPerDrone * sizeof(long)) : 0), 3 * BlocksPerDrone);
            if (id != 0)
            {
                for (var i = 0; i < BlocksPerDrone; i++)
                {
                    var block = drone.Malloc(sizes[i]);
                    drone.Heap.Write(block, (id * 1000L) + i);
                    drone.Heap.Write(block + ((sizes[i] - 1) & ~7L), -((id * 1000L) + i));
                    table[(id * BlocksPerDrone) + i] = block;
                }

                Assert.True(drone.Statistics.Mallocs == BlocksPerDrone, $"drone {id} counts {drone.Statistics.Mallocs} Mallocs, made {BlocksPerDrone}");
            }

            drone.Barrier(0);
            blocks[id] = new long[3 * BlocksPerDrone];
            for (var owner = 1; owner < 3; owner++)
            {
                for (var i = 0; i < BlocksPerDrone; i++)
                {
                    var block = table[(owner * BlocksPerDrone) + i];
                    blocks[id][(owner * BlocksPerDrone) + i] = block;
                    var (first, last) = (drone.Heap.Read<long>(block), drone.Heap.Read<long>(block + ((sizes[i] - 1) & ~7L)));
                    Assert.True(
                        first == (owner * 1000L) + i && last == -((owner * 1000L) + i),
                        $"drone {id} reads {first} and {last} at the ends of drone {owner}'s block {i} at 0x{block:X}, written {(owner * 1000L) + i} and {-((owner * 1000L) + i)}");
                }
            }

            drone.Barrier(1);
        });

        var live = cluster[0].Allocator.LiveBlocks().ToDictionary(b => b.Address, b => b.Size);
        var allocated = blocks[1][BlocksPerDrone..].Select((block, k) => (Block: block, Size: sizes[k % BlocksPerDrone])).ToList();
        Assert.True(blocks.All(seen => seen.SequenceEqual(blocks[0])), "drones read different block addresses from the shared table");
        foreach (var (block, size) in allocated)
        {
            Assert.True(live.TryGetValue(block, out var held) && held >= size, $"block 0x{block:X} of {size} bytes is not a live block of drone 0's allocator");
        }

        var ordered = allocated.OrderBy(b => b.Block).ToList();
        for (var k = 1; k < ordered.Count; k++)
        {
            Assert.True(ordered[k - 1].Block + ordered[k - 1].Size <= ordered[k].Block, $"blocks 0x{ordered[k - 1].Block:X} ({ordered[k - 1].Size} bytes) and 0x{ordered[k].Block:X} overlap");
        }
    }

    /// <summary>
    /// Free from any drone: drone 1 frees drone 2's block; a double free from drone 1, a free of an address inside a block
    /// from drone 2 and an exhausting Malloc from drone 1 throw what drone 0's allocator throws, type and message; bad
    /// arguments are refused on the calling drone, which sends nothing for them.
    /// </summary>
    [Fact]
    public void FreeAndErrors_FromOtherDrones_AreDroneZerosAllocatorsOwn()
    {
        using var cluster = new DroneCluster(3);
        var expected = new Exception?[4];
        var got = new Exception?[4];
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var slot = drone.Distribute(id == 0 ? drone.Malloc(16) : 0);
            if (id == 2)
            {
                drone.Heap.Write(slot, drone.Malloc(100));
            }

            drone.Barrier(0);
            var block = drone.Heap.Read<long>(slot);
            if (id == 1)
            {
                drone.Free(block);
                Assert.True(cluster[0].Allocator.SizeOf(block) == -1, $"drone 1 freed drone 2's block 0x{block:X}, but drone 0's allocator still holds it");
                got[0] = Record.Exception(() => drone.Free(block));
                expected[0] = Record.Exception(() => cluster[0].Allocator.Free(block));
            }

            drone.Barrier(1);
            if (id == 2)
            {
                var inner = drone.Malloc(64);
                got[1] = Record.Exception(() => drone.Free(inner + 16));
                expected[1] = Record.Exception(() => cluster[0].Allocator.Free(inner + 16));
                got[2] = Record.Exception(() => drone.Free(inner + 4096));
                expected[2] = Record.Exception(() => cluster[0].Allocator.Free(inner + 4096));
            }

            drone.Barrier(2);
            if (id == 1)
            {
                var half = drone.Heap.Size / 2;
                drone.Malloc(half);
                got[3] = Record.Exception(() => drone.Malloc(half));
                expected[3] = Record.Exception(() => cluster[0].Allocator.Malloc(half));

                // Refused here, before any request: nothing more goes to drone 0.
                var sent = Requests(drone);
                Assert.Throws<ArgumentOutOfRangeException>(() => drone.Malloc(0));
                Assert.Throws<ArgumentOutOfRangeException>(() => drone.Malloc(64, 24));
                Assert.Throws<ArgumentOutOfRangeException>(() => drone.Free(drone.Heap.Size));
                Assert.Throws<SharedHeapExhaustedException>(() => drone.Malloc(drone.Heap.Size + 1));
                Assert.True(Requests(drone) == sent, $"drone 1 sent {Requests(drone) - sent} allocation requests for arguments it can refuse itself");
            }

            drone.Barrier(3);
        });

        string[] cases = ["double free from drone 1", "free inside a block from drone 2", "free of an address never allocated from drone 2", "exhausting Malloc from drone 1"];
        for (var i = 0; i < cases.Length; i++)
        {
            Assert.True(expected[i] is not null, $"{cases[i]}: drone 0's own allocator threw nothing");
            Assert.True(
                got[i]?.GetType() == expected[i]!.GetType() && got[i]!.Message == expected[i]!.Message,
                $"{cases[i]}: threw {got[i]?.GetType().Name ?? "nothing"} '{got[i]?.Message}', drone 0's allocator {expected[i]!.GetType().Name} '{expected[i]!.Message}'");
        }

        Assert.Contains("double free", got[0]!.Message, StringComparison.Ordinal);
        Assert.True(got[3] is SharedHeapExhaustedException, $"the exhausting Malloc threw {got[3]?.GetType().Name}");
        var half = cluster[1].Heap.Size / 2;
        Assert.Contains($"Malloc({half}, alignment 16) failed", got[3]!.Message, StringComparison.Ordinal);
        Assert.Contains("bytes free, and its largest free block holds", got[3]!.Message, StringComparison.Ordinal);
    }

    /// <summary>Drone 0 is gone: another drone's Malloc and Free end at once with why, and never wait for a reply that cannot come.</summary>
    [Fact]
    public void MallocAndFree_WithDroneZeroGone_ThrowWhyAndNeverHang()
    {
        var cluster = new DroneCluster(2);
        try
        {
            Exception? malloc = null;
            Exception? free = null;
            using var done = new ManualResetEventSlim();
            var block = 0L;
            cluster.Run(id =>
            {
                if (id == 1)
                {
                    block = cluster[1].Malloc(64);
                }
            });
            cluster[0].Dispose();
            var caller = new Thread(() =>
            {
                malloc = Record.Exception(() => cluster[1].Malloc(64));
                free = Record.Exception(() => cluster[1].Free(block));
                done.Set();
            });
            caller.Start();
            Assert.True(done.Wait(TimeSpan.FromSeconds(30)), "drone 1's Malloc and Free still waited 30 s after drone 0 was gone");
            foreach (var (name, error) in new[] { ("Malloc", malloc), ("Free", free) })
            {
                Assert.True(
                    error is RunAbortedException or DroneUnreachableException && error.Message.Contains("drone 0", StringComparison.Ordinal),
                    $"drone 1's {name} with drone 0 gone threw {error?.GetType().Name ?? "nothing"}: {error?.Message}");
            }
        }
        finally
        {
            cluster[1].Dispose();
        }
    }

    /// <summary>
    /// Allocation requests that do not decode, and one to a drone that is not drone 0, are refused with an error reply
    /// that says why; the drones stay up (their links too) and serve the next Malloc and Free.
    /// </summary>
    [Fact]
    public async Task Requests_MalformedOrToAMember_AreRefusedWithTheReason()
    {
        using var cluster = new DroneCluster(3);
        var node = cluster[1].Mesh!;
        var cases = new (string Name, int To, byte Kind, byte[] Body, string Reason)[]
        {
            ("AllocateRequest of a string", 0, ProtocolCodec.AllocateRequestKind, [0x92, 0xA1, 0x78, 0x10], "malformed AllocateRequest body"),
            ("AllocateRequest of -16 bytes", 0, ProtocolCodec.AllocateRequestKind, Encode(new AllocateRequest(-16, 16)), "AllocateRequest of -16 bytes"),
            ("AllocateRequest at alignment 3", 0, ProtocolCodec.AllocateRequestKind, Encode(new AllocateRequest(16, 3)), "AllocateRequest with alignment 3"),
            ("AllocateRequest cut short", 0, ProtocolCodec.AllocateRequestKind, [0x92, 0x10], "malformed AllocateRequest body"),
            ("FreeRequest of 3 fields", 0, ProtocolCodec.FreeRequestKind, [0x93, 0x10, 0x10, 0x10], "FreeRequest has 3 fields, expected 1"),
            ("FreeRequest outside the heap", 0, ProtocolCodec.FreeRequestKind, Encode(new FreeRequest(-32)), "FreeRequest of address 0x"),
            ("AllocateRequest to drone 2", 2, ProtocolCodec.AllocateRequestKind, Encode(new AllocateRequest(64, 16)), "drone 2 is not the run's allocator (drone 0 is)"),
            ("FreeRequest to drone 2", 2, ProtocolCodec.FreeRequestKind, Encode(new FreeRequest(64)), "drone 2 is not the run's allocator (drone 0 is)"),
        };
        foreach (var (name, to, kind, body, reason) in cases)
        {
            var error = await Record.ExceptionAsync(() => node.RequestAsync(to, kind, body, static (ref MessagePackWriter w, byte[] b) => w.WriteRaw(b), TimeSpan.FromSeconds(20)));
            Assert.True(
                error is MeshException && error.Message.Contains(reason, StringComparison.Ordinal),
                $"{name} from drone 1 to drone {to} ended with {error?.GetType().Name ?? "a reply"}: '{error?.Message}', not a refusal saying '{reason}'");
        }

        Assert.True(cluster[0].Allocator.LiveBlockCount == 0, $"drone 0's allocator holds {cluster[0].Allocator.LiveBlockCount} blocks after refusing every request");
        cluster.Run(id =>
        {
            var drone = cluster[id];
            Assert.True(drone.FailureReason is null, $"drone {id} stopped: {drone.FailureReason}");
            drone.Free(drone.Malloc(64));
            drone.Barrier(0);
        });
    }

    [Fact]
    public void Codec_RequestsAndRepliesRoundTrip_AndMutatedOrRandomBodiesThrowOnlyInvalidData()
    {
        const long heap = 1 << 20;
        var allocate = new AllocateRequest(100, 64);
        var free = new FreeRequest(0x40);
        var read = Read(ProtocolCodec.AllocateRequestKind, Encode(allocate), heap);
        Assert.Equal(allocate, read);
        Assert.Equal(free, Read(ProtocolCodec.FreeRequestKind, Encode(free), heap));
        Assert.Equal(new AllocationReply(0x80, null), AllocationCodec.ReadReply(Encode(new AllocationReply(0x80, null)), allocate, heap));
        var refusal = new AllocationRefusal(AllocationRefusalKind.Argument, "Free(0x40): no block was allocated at that address.", "address");
        Assert.Equal(refusal, AllocationCodec.ReadReply(Encode(new AllocationReply(0, refusal)), free).Refusal);

        // A reply that does not fit its request: an address off the alignment, past the heap, another address freed, a
        // refusal the allocator does not give for the request.
        string[] wrongReplies =
        [
            Describe(() => AllocationCodec.ReadReply(Encode(new AllocationReply(0x90, null)), allocate, heap)),
            Describe(() => AllocationCodec.ReadReply(Encode(new AllocationReply(heap - 64, null)), allocate, heap)),
            Describe(() => AllocationCodec.ReadReply(Encode(new AllocationReply(0x80, null)), free)),
            Describe(() => AllocationCodec.ReadReply(Encode(new AllocationReply(0, refusal)), allocate, heap)),
        ];
        Assert.All(wrongReplies, what => Assert.StartsWith(nameof(InvalidDataException), what, StringComparison.Ordinal));

        var random = new Random(25);
        var samples = new (string Name, byte[] Bytes, Action<byte[]> Read)[]
        {
            ("AllocateRequest", Encode(allocate), b => Read(ProtocolCodec.AllocateRequestKind, b, heap)),
            ("FreeRequest", Encode(free), b => Read(ProtocolCodec.FreeRequestKind, b, heap)),
            ("reply to AllocateRequest", Encode(new AllocationReply(0x80, null)), b => AllocationCodec.ReadReply(b, allocate, heap)),
            ("refusal of AllocateRequest", Encode(new AllocationReply(0, new AllocationRefusal(AllocationRefusalKind.Exhausted, "full"))), b => AllocationCodec.ReadReply(b, allocate, heap)),
            ("refusal of FreeRequest", Encode(new AllocationReply(0, refusal)), b => AllocationCodec.ReadReply(b, free)),
        };
        foreach (var (name, encoded, readIt) in samples)
        {
            for (var trial = 0; trial < 400; trial++)
            {
                var bytes = trial % 2 == 0 ? encoded.ToArray() : new byte[random.Next(1, 40)];
                if (trial % 2 == 0)
                {
                    for (var flips = random.Next(1, 4); flips > 0; flips--)
                    {
                        bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                    }

                    bytes = bytes[..random.Next(1, bytes.Length + 1)];
                }
                else
                {
                    random.NextBytes(bytes);
                    bytes[0] = (byte)random.Next(0x90, 0x95);
                }

                var error = Record.Exception(() => readIt(bytes));
                Assert.True(error is null or InvalidDataException, $"{name} as {Convert.ToHexString(bytes)} (trial {trial}) threw {error?.GetType().Name}: {error?.Message}");
            }
        }
    }

    /// <summary>Every drone allocates together: all get one address, and what one drone writes there the others read after a barrier.</summary>
    [Fact]
    public void Collective_ThreeDrones_GetOneAddress_AndSeeEachOthersWrites()
    {
        using var cluster = new DroneCluster(3);
        var addresses = new long[3][];
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var xs = drone.ArrayCollective<long>(1000);
            var paged = drone.MallocCollective(5000, drone.PageSize);
            var small = drone.MallocCollective(24);
            addresses[id] = [xs.Address, paged, small];
            if (id == 1)
            {
                for (var i = 0; i < xs.Count; i++)
                {
                    xs[i] = (i * 7L) + 1;
                }
            }

            drone.Heap.Write(small + (8 * id), (long)id + 100);
            drone.Barrier(0);
            for (var i = 0; i < xs.Count; i++)
            {
                Assert.True(xs[i] == (i * 7L) + 1, $"drone {id} reads {xs[i]} at element {i} (0x{xs.AddressOf(i):X}) of the collective array, drone 1 wrote {(i * 7L) + 1}");
            }

            for (var writer = 0; writer < 3; writer++)
            {
                var value = drone.Heap.Read<long>(small + (8 * writer));
                Assert.True(value == writer + 100, $"drone {id} reads {value} at 0x{small + (8 * writer):X}, where drone {writer} wrote {writer + 100}");
            }
        });

        Assert.True(addresses.All(a => a.SequenceEqual(addresses[0])), $"drones got different addresses: {string.Join(" / ", addresses.Select(a => string.Join(",", a.Select(x => $"0x{x:X}"))))}");
        Assert.True(addresses[0][1] % cluster[0].PageSize == 0, $"the page-aligned collective block is at 0x{addresses[0][1]:X}");
        var live = cluster[0].Allocator.LiveBlocks().Select(b => b.Address).ToHashSet();
        Assert.True(addresses[0].All(live.Contains), "a collective block is not a live block of drone 0's allocator");
        Assert.True(cluster[0].Statistics.Mallocs >= 3 && cluster[1].Statistics.Mallocs == 0, $"Mallocs: drone 0 counts {cluster[0].Statistics.Mallocs}, drone 1 {cluster[1].Statistics.Mallocs}; the collective blocks are drone 0's");
    }

    /// <summary>
    /// A drone that passes another size makes every drone throw an ArgumentException naming both; a collective allocation
    /// the heap cannot hold makes every drone throw drone 0's exhaustion. None waits for ever, and the next one works.
    /// </summary>
    [Fact]
    public void Collective_MismatchedSizesOrAFullHeap_ThrowOnEveryDrone()
    {
        using var cluster = new DroneCluster(3);
        var mismatch = new Exception?[3];
        var exhausted = new Exception?[3];
        var after = new long[3];
        cluster.Run(
            id =>
            {
                var drone = cluster[id];
                mismatch[id] = Record.Exception(() => drone.MallocCollective(id == 2 ? 200 : 100));
                exhausted[id] = Record.Exception(() => drone.MallocCollective(drone.Allocator.End - 64)); // the allocator's range ends below the condition queues
                after[id] = drone.MallocCollective(64);
            },
            TimeSpan.FromSeconds(60));

        for (var id = 0; id < 3; id++)
        {
            Assert.True(
                mismatch[id] is ArgumentException { ParamName: "bytes" } && mismatch[id]!.Message.Contains("drone 2 asked for 200 bytes", StringComparison.Ordinal) && mismatch[id]!.Message.Contains("drone 0 for 100 bytes", StringComparison.Ordinal),
                $"drone {id}, sizes 100, 100 and 200: threw {mismatch[id]?.GetType().Name ?? "nothing"}: {mismatch[id]?.Message}");
            Assert.True(
                exhausted[id] is SharedHeapExhaustedException && exhausted[id]!.Message.Contains($"Malloc({cluster[0].Allocator.End - 64}, alignment 16) failed", StringComparison.Ordinal),
                $"drone {id}, {cluster[0].Allocator.End - 64} bytes of an allocator range of {cluster[0].Allocator.End}: threw {exhausted[id]?.GetType().Name ?? "nothing"}: {exhausted[id]?.Message}");
            Assert.Equal(exhausted[0]!.Message, exhausted[id]!.Message);
        }

        Assert.True(after.All(a => a == after[0] && a > 0), $"after the failures the drones got {string.Join(", ", after)}");
        Assert.True(cluster[0].Allocator.SizeOf(after[0]) == 64, $"drone 0 holds no block of 64 bytes at 0x{after[0]:X}");
    }

    /// <summary>
    /// A drone that joined the running run (after the first collective allocation) takes part in the next one with the
    /// others, and its Malloc and Free are served like theirs.
    /// </summary>
    /// <summary>
    /// The runtime's own blocks (the collective ballots, a distribution's bytes) are pinned: a program's Free of one is
    /// refused on any drone, so a stray free cannot hand it out again while the runtime writes it.
    /// </summary>
    [Fact]
    public void Free_OfTheRuntimesOwnBlocks_IsRefusedOnEveryDrone()
    {
        using var cluster = new DroneCluster(2);
        var refusals = new Exception?[2, 2];
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var block = drone.MallocCollective(64);
            Span<byte> bytes = stackalloc byte[100];
            bytes.Fill((byte)(id == 0 ? 7 : 0));
            drone.Distribute(bytes);
            var runtime = id == 0 ? cluster[0].Allocator.LiveBlocks().Where(b => b.Address != block).Select(b => b.Address).ToArray() : [];
            var found = (drone.Distribute(runtime.Length == 2 ? runtime[0] : 0), drone.Distribute(runtime.Length == 2 ? runtime[1] : 0)); // a long's distribution takes no block
            drone.Barrier(0);
            if (id == 1)
            {
                refusals[0, 0] = Record.Exception(() => drone.Free(found.Item1));
                refusals[0, 1] = Record.Exception(() => drone.Free(found.Item2));
            }
            else
            {
                refusals[1, 0] = Record.Exception(() => drone.Free(found.Item1));
                refusals[1, 1] = Record.Exception(() => drone.Free(found.Item2));
            }

            drone.Barrier(0);
        });

        foreach (var refusal in refusals)
        {
            Assert.True(
                refusal is ArgumentException && refusal.Message.Contains("the runtime's own", StringComparison.Ordinal),
                $"a Free of a runtime block (the ballots or the distribution's bytes) threw {refusal?.GetType().Name ?? "nothing"}: {refusal?.Message}");
        }
    }

    /// <summary>A distribution of bytes drone 0's heap has no room for makes every drone throw; none waits at the barrier.</summary>
    [Fact]
    public void DistributeBytes_WithNoRoomOnDroneZero_ThrowsOnEveryDrone()
    {
        using var cluster = new DroneCluster(2);
        var errors = new Exception?[2];
        cluster.Run(
            id =>
            {
                var drone = cluster[id];
                if (id == 0)
                {
                    drone.Malloc(drone.Allocator.FreeBytes - 64); // leaves less than the bytes need
                }

                var buffer = new byte[4096];
                errors[id] = Record.Exception(() => drone.Distribute(buffer.AsSpan()));
            },
            TimeSpan.FromSeconds(60));
        Assert.True(
            errors.All(e => e is SharedHeapExhaustedException),
            $"a Distribute of 4096 bytes with a full heap on drone 0 threw [{string.Join("; ", errors.Select(e => $"{e?.GetType().Name}: {e?.Message}"))}]");
    }

    [Fact]
    public void Collective_AndMalloc_OnADroneThatJoined_WorkAsOnTheOthers()
    {
        // The drones of this process are given the key; --key-file is only where a program's drone 0 would keep it.
        var options = new DroneOptions { HeapSize = "1MiB", Quiet = true, MaxDronesInRun = 3, KeyFile = Path.Combine(Path.GetTempPath(), "hivemind-alloc-unused.key") };
        using var cluster = new DroneCluster(2, options);
        Drone? newcomer = null;
        Exception? joinError = null;
        var joiner = new Thread(() => joinError = Record.Exception(() => newcomer = Drone.Join(options, new DronePlacement(MeshNode.Newcomer, 0) { Registry = cluster.Registry, ClusterKey = cluster.Key })));
        try
        {
            cluster.Run(id =>
            {
                var drone = cluster[id];
                drone.MallocCollective(32);
                if (id == 0)
                {
                    joiner.Start();
                    Assert.True(drone.WaitForJoiners(1, TimeSpan.FromSeconds(30)), "drone 0 heard of no drone asking to join within 30 s");
                }

                drone.Barrier(0); // admits the newcomer
            });
            Assert.True(joiner.Join(TimeSpan.FromSeconds(30)), "the joining drone was not admitted within 30 s of barrier 0");
            Assert.True(newcomer is { Id: 2 }, $"the joining drone failed or took id {newcomer?.Id}: {joinError?.Message}");

            var drones = new[] { cluster[0], cluster[1], newcomer! };
            var collective = new long[3];
            var own = new long[3];
            DroneThreads.Run(3, id =>
            {
                var drone = drones[id];
                collective[id] = drone.MallocCollective(128);
                own[id] = drone.Malloc(48);
                drone.Heap.Write(collective[id] + (8 * id), id + 1L);
                drone.Barrier(1);
                var sum = Enumerable.Range(0, 3).Sum(d => drone.Heap.Read<long>(collective[id] + (8 * d)));
                Assert.True(sum == 6, $"drone {id} sums {sum} over the three words the drones wrote at 0x{collective[id]:X}, expected 6");
                drone.Free(own[id]);
            });
            Assert.True(collective.All(a => a == collective[0]), $"the drones got collective addresses {string.Join(", ", collective.Select(a => $"0x{a:X}"))}");
            Assert.True(own.Distinct().Count() == 3, $"the drones' own blocks are {string.Join(", ", own.Select(a => $"0x{a:X}"))}");

            // The newcomer's allocator range is drone 0's (it ends below the condition queues at the top of the heap): a
            // request past it is refused as on the others, before any message.
            var end = cluster[0].Allocator.End;
            Assert.True(newcomer!.Allocator.End == end, $"the newcomer's allocator range ends at 0x{newcomer.Allocator.End:X}, drone 0's at 0x{end:X}");
            var past = Record.Exception(() => newcomer.Malloc(end + 16));
            Assert.True(past is SharedHeapExhaustedException, $"the newcomer's Malloc({end + 16}) past drone 0's range of {end} bytes threw {past?.GetType().Name}: {past?.Message}");
            DroneThreads.Run(3, id => drones[id].Exit());
        }
        finally
        {
            newcomer?.Dispose();
        }
    }

    private static long Requests(Drone drone) =>
        drone.SentByKind().Where(k => k.Key is "AllocateRequest" or "FreeRequest").Sum(k => k.Value.Messages);

    private static object Read(byte kind, byte[] body, long heap)
    {
        var reader = new MessagePackReader(body);
        return kind == ProtocolCodec.AllocateRequestKind ? AllocationCodec.ReadAllocateRequest(ref reader, heap) : AllocationCodec.ReadFreeRequest(ref reader, heap);
    }

    private static string Describe(Action action) => Record.Exception(action) is { } error ? $"{error.GetType().Name}: {error.Message}" : "no exception";

    private static byte[] Encode(object value) => value switch
    {
        AllocateRequest r => WireBodies.Of(r, AllocationCodec.Write),
        FreeRequest r => WireBodies.Of(r, AllocationCodec.Write),
        AllocationReply r => WireBodies.Of(r, AllocationCodec.Write),
        _ => throw new ArgumentException($"{value} is not an allocation message", nameof(value)),
    };
}
