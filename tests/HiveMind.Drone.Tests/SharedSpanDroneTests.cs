using HiveMind.Memory;

namespace HiveMind.DroneTests;

/// <summary>
/// The span epoch check on real drones: every synchronization of the Drone API ends the spans taken before it, on the
/// drone that synchronizes, when spans are checked (<c>--check-spans</c>). Spans are ref structs: a use that must throw is
/// passed its span as an argument, never captured.
/// </summary>
public sealed class SharedSpanDroneTests
{
    private const int Words = 1024;

    [Fact]
    public void Spans_UsedAfterEachSynchronization_Throw_AndSpansTakenAfterWork()
    {
        using var cluster = new DroneCluster(2, new DroneOptions { HeapSize = "1MiB", Quiet = true, CheckSpans = true });
        cluster.Run(id =>
        {
            var drone = cluster[id];
            Assert.True(drone.Heap.ChecksSpans, $"drone {id} started with CheckSpans = true does not check spans");
            var address = drone.Distribute(id == 0 ? drone.Malloc(2 * Words * sizeof(int), 4096) : -1);
            var mine = drone.Array<int>(address + (id * Words * sizeof(int)), Words);

            drone.LockAcquire(id);
            var written = mine.AsSpan(0, 16);
            written[0] = id + 1;
            drone.LockRelease(id);
            ExpectStale(drone, written, mine.Address, $"the release of lock {id}");

            var read = mine.AsReadOnlySpan(0, 16);
            drone.LockAcquire(2 + id);
            ExpectStale(drone, read, mine.Address, $"the acquire of lock {2 + id}");
            drone.LockRelease(2 + id);

            var before = mine.AsSpan(1, 1);
            before[0] = 5;
            drone.Barrier(1);
            ExpectStale(drone, before, mine.AddressOf(1), "barrier 1");
            var theirs = drone.Array<int>(address + ((1 - id) * Words * sizeof(int)), Words).AsReadOnlySpan(0, 2);
            Assert.True(
                theirs[0] == 2 - id && theirs[1] == 5,
                $"drone {id} reads {theirs[0]}, {theirs[1]} at 0x{theirs.Address:X} after barrier 1 through a span taken after it, not {2 - id}, 5");

            var distributed = mine.AsSpan(2, 1);
            drone.Distribute(0L);
            ExpectStale(drone, distributed, mine.AddressOf(2), "a Distribute");

            var attempted = mine.AsReadOnlySpan(3, 1);
            if (drone.LockTryAcquire(4 + id))
            {
                drone.LockRelease(4 + id);
            }

            ExpectStale(drone, attempted, mine.AddressOf(3), $"the attempt at lock {4 + id}");

            var collective = mine.AsReadOnlySpan(5, 1);
            drone.MallocCollective(64);
            ExpectStale(drone, collective, mine.AddressOf(5), "a collective allocation");

            var last = mine.AsSpan(4, 1);
            drone.Exit();
            ExpectStale(drone, last, mine.AddressOf(4), "the drone's Exit");
        });
    }

    /// <summary>
    /// An attempt that another thread of the drone makes fail (it holds the lock) ends spans as any attempt does; and
    /// Distribute refuses a buffer in the shared heap, which it would write after its barrier, untracked.
    /// </summary>
    [Fact]
    public void AttemptRefusedByTheDronesOwnThread_EndsSpans_AndDistributeRefusesASharedBuffer()
    {
        using var cluster = new DroneCluster(2, new DroneOptions { HeapSize = "1MiB", Quiet = true, CheckSpans = true });
        var errors = new Exception?[2];
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var address = drone.Distribute(id == 0 ? drone.Malloc(2 * Words * sizeof(int), 4096) : -1);
            var mine = drone.Array<int>(address + (id * Words * sizeof(int)), Words);
            drone.LockAcquire(6 + id);
            var span = mine.AsReadOnlySpan(0, 4);
            var attempted = true;
            var other = new Thread(() => attempted = drone.LockTryAcquire(6 + id));
            other.Start();
            Assert.True(other.Join(TimeSpan.FromSeconds(30)), $"drone {id}: an attempt at lock {6 + id} from a second thread did not answer within 30 s");
            Assert.False(attempted, $"drone {id}: an attempt at lock {6 + id}, held by another thread of the drone, was granted");
            ExpectStale(drone, span, mine.Address, $"the attempt at lock {6 + id}");
            drone.LockRelease(6 + id);

            var shared = drone.Array<byte>(address, 64);
            errors[id] = Record.Exception(() => drone.Distribute(shared.AsSpan(0, 64)));
            drone.Barrier(2);
        });
        Assert.True(
            errors.All(e => e is ArgumentException && e.Message.Contains("lies in the shared heap", StringComparison.Ordinal)),
            $"Distribute of a buffer in the shared heap threw [{string.Join("; ", errors.Select(e => $"{e?.GetType().Name}: {e?.Message}"))}]");
    }

    [Fact]
    public void Spans_Unchecked_NeverThrow_AndTheEpochStaysPut()
    {
        using var cluster = new DroneCluster(2, new DroneOptions { HeapSize = "1MiB", Quiet = true, CheckSpans = false });
        var moved = new int[2];
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var epoch = drone.Heap.SpanEpoch;
            var address = drone.Distribute(id == 0 ? drone.Malloc(2 * Words * sizeof(int), 4096) : -1);
            var mine = drone.Array<int>(address + (id * Words * sizeof(int)), Words);
            var written = mine.AsSpan(0, 16);
            drone.LockAcquire(id);
            written[0] = id + 1;
            drone.LockRelease(id);
            written[1] = 7;
            drone.Barrier(1);
            written.Slice(2).Fill(3);
            var read = mine.AsReadOnlySpan();
            if (drone.LockTryAcquire(4 + id))
            {
                drone.LockRelease(4 + id);
            }

            drone.Distribute(0L);
            Assert.True(read[0] == id + 1 && read[1] == 7 && read[2] == 3, $"drone {id} reads {read[0]}, {read[1]}, {read[2]} at 0x{mine.Address:X} through unchecked spans");
            moved[id] = drone.Heap.SpanEpoch - epoch;
        });
        Assert.True(moved.All(m => m == 0), $"the span epochs of unchecked drones moved by {string.Join(", ", moved)}");
    }

    [Fact]
    public void CheckSpansOption_TurnsTheCheckOn_AndItsAbsenceKeepsTheBuildsDefault()
    {
        var given = Tmk.ParseOptions<DroneOptions>(["--check-spans"]);
        Assert.True(given.CheckSpans && given.ToHeapOptions().CheckSpans, $"--check-spans parses to CheckSpans = {given.CheckSpans}, heap option {given.ToHeapOptions().CheckSpans}");
        var absent = Tmk.ParseOptions<DroneOptions>([]);
        Assert.True(
            absent.CheckSpans == HeapOptions.DefaultCheckSpans && absent.ToHeapOptions().CheckSpans == HeapOptions.DefaultCheckSpans,
            $"with no --check-spans CheckSpans is {absent.CheckSpans}, not the build's default {HeapOptions.DefaultCheckSpans}");
        var help = Assert.Throws<HelpRequestedException>(() => Tmk.ParseOptions<DroneOptions>(["--help"]));
        Assert.Contains("--check-spans", help.HelpText, StringComparison.Ordinal);
    }

    private static void ExpectStale<T>(Drone drone, SharedSpan<T> span, long address, string synchronization)
        where T : unmanaged
    {
        try
        {
            span[0] = default;
        }
        catch (InvalidOperationException error)
        {
            ExpectMessage(drone, error, address, synchronization);
            return;
        }

        Assert.Fail($"drone {drone.Id}: a write span at 0x{address:X} was used after {synchronization} without an error");
    }

    private static void ExpectStale<T>(Drone drone, SharedReadOnlySpan<T> span, long address, string synchronization)
        where T : unmanaged
    {
        try
        {
            _ = span[0];
        }
        catch (InvalidOperationException error)
        {
            ExpectMessage(drone, error, address, synchronization);
            return;
        }

        Assert.Fail($"drone {drone.Id}: a read span at 0x{address:X} was used after {synchronization} without an error");
    }

    private static void ExpectMessage(Drone drone, InvalidOperationException error, long address, string synchronization) =>
        Assert.True(
            error.Message.StartsWith($"Drone {drone.Id}: a span", StringComparison.Ordinal)
                && error.Message.Contains($"at global address 0x{address:X} ", StringComparison.Ordinal)
                && error.Message.Contains($"used after {synchronization} ended its validity", StringComparison.Ordinal),
            $"drone {drone.Id}: the error of a span at 0x{address:X} used after {synchronization} says: {error.Message}");
}
