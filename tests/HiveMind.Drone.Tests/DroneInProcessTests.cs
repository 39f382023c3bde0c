using HiveMind.Consistency;

namespace HiveMind.DroneTests;

/// <summary>The Drone API with several drones in one process, each on its own thread, over loopback.</summary>
public sealed class DroneInProcessTests
{
    [Fact]
    public void MallocAndDistribute_EveryDroneGetsDroneZerosAddress()
    {
        using var cluster = new DroneCluster(3);
        var seen = new long[3];
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var address = drone.Distribute(id == 0 ? drone.Malloc(4096, 4096) : -1);
            seen[id] = address;
            drone.LockAcquire(5);
            drone.Heap.Write(address, drone.Heap.Read<int>(address) + 1);
            drone.LockRelease(5);
            drone.Barrier(0);
            var total = drone.Heap.Read<int>(address);
            Assert.True(total == 3, $"drone {id} reads {total} at 0x{address:X} after every drone added 1 under lock 5");
        });
        Assert.True(seen.Distinct().Count() == 1 && seen[0] > 0, $"drones got addresses {string.Join(", ", seen)}");
    }

    /// <summary>
    /// Lock attempts over the mesh: a drone that finds the lock held counts a refusal and acquires instead; the counter
    /// loses no increment, and refused attempts show in the drone's statistics.
    /// </summary>
    [Fact]
    public void LockTryAcquire_ThreeDronesOnOneCounter_LoseNoIncrement_AndCountRefusals()
    {
        const int Rounds = 400;
        using var cluster = new DroneCluster(3);
        var refused = new int[3];
        var totals = new int[3];
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var address = drone.Distribute(id == 0 ? drone.Malloc(64) : -1);
            for (var round = 0; round < Rounds; round++)
            {
                if (!drone.LockTryAcquire(3))
                {
                    refused[id]++;
                    drone.LockAcquire(3);
                }

                drone.Heap.Write(address, drone.Heap.Read<int>(address) + 1);
                drone.LockRelease(3);
            }

            drone.Barrier(0);
            totals[id] = drone.Heap.Read<int>(address);
            var counted = drone.Exit().LockAttemptsBusy;
            Assert.True(counted == refused[id], $"drone {id} counts {counted} refused attempts, but saw {refused[id]}");
        });
        Assert.True(totals.All(t => t == 3 * Rounds), $"drones read the counter as {string.Join(", ", totals)} after 3 drones added {Rounds} each under lock 3 (refused attempts: {string.Join(", ", refused)}), not {3 * Rounds}");
    }

    /// <summary>
    /// An attempt from one thread of a drone while another of its threads holds the lock is refused; once released, granted,
    /// and the lock is then held by that thread as an acquire would hold it (a condition of it may be signalled).
    /// </summary>
    [Fact]
    public void LockTryAcquire_WhileAnotherThreadOfTheDroneHoldsTheLock_IsRefused_ThenGranted()
    {
        using var cluster = new DroneCluster(2);
        var answers = new List<bool>();
        cluster.Run(id =>
        {
            if (id != 1)
            {
                return;
            }

            var drone = cluster[1];
            drone.LockAcquire(4);
            var other = new Thread(() => answers.Add(drone.LockTryAcquire(4)));
            other.Start();
            Assert.True(other.Join(TimeSpan.FromSeconds(30)), "drone 1's second thread did not answer its attempt at lock 4 within 30 s");
            drone.LockRelease(4);
            Exception? failure = null;
            var again = new Thread(() =>
            {
                try
                {
                    answers.Add(drone.LockTryAcquire(4));
                    drone.LockCondSignal(4, 0); // held through the attempt, as through an acquire
                    drone.LockRelease(4);
                }
                catch (Exception error)
                {
                    failure = error;
                }
            });
            again.Start();
            Assert.True(again.Join(TimeSpan.FromSeconds(30)), "drone 1's third thread did not answer its attempt at lock 4 within 30 s");
            Assert.True(failure is null, $"drone 1's third thread, after its attempt at lock 4 was granted: {failure}");
        });
        Assert.True(answers.SequenceEqual([false, true]), $"drone 1's attempts at lock 4 from other threads (held by its first thread, then released) answered [{string.Join(", ", answers)}], not [False, True]");
    }

    /// <summary>A view of more than int.MaxValue elements over a heap past 4 GiB: a write far out is seen by another drone.</summary>
    [Fact]
    public void Array_OfMoreThanIntMaxValueElements_WritesFarOutReachOtherDrones()
    {
        const long Elements = (1L << 31) + (1L << 20);
        const long Far = Elements - 3;
        using var cluster = new DroneCluster(2, new DroneOptions { HeapSize = "6GiB", Quiet = true });
        var read = new long[2];
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var address = drone.Distribute(id == 0 ? drone.Malloc(2 * Elements) : -1);
            var xs = drone.LargeArray<short>(address, Elements);
            if (id == 1)
            {
                xs[Far] = 31_000;
                xs[1L << 31] = 17;
            }

            drone.Barrier(0);
            read[id] = (xs[Far] * 100_000L) + xs[1L << 31];
        });
        Assert.True(read.All(r => r == (31_000 * 100_000L) + 17), $"drones read {string.Join(", ", read)} for elements {Far} and {1L << 31} of a view of {Elements} shorts that drone 1 wrote");
    }

    /// <summary>The heap's geometry is the program's to know, and an id past the run's locks or barriers names the option that gives more.</summary>
    [Fact]
    public void PageSizeAndIdLimits_AreTheProgramsToKnow()
    {
        using var cluster = new DroneCluster(2, new DroneOptions { HeapSize = "1MiB", PageSize = 16384, Locks = 8, Barriers = 4, Quiet = true });
        cluster.Run(id =>
        {
            var drone = cluster[id];
            Assert.True(drone.PageSize == 16384 && drone.PageCount == 64, $"drone {id}: page size {drone.PageSize}, {drone.PageCount} pages, expected 16384 and 64");
            var lockError = Assert.Throws<ArgumentOutOfRangeException>(() => drone.LockAcquire(8));
            Assert.Contains("lock ids are 0 .. 7 (--locks 8; a larger --locks gives more)", lockError.Message, StringComparison.Ordinal);
            var barrierError = Assert.Throws<ArgumentOutOfRangeException>(() => drone.Barrier(4));
            Assert.Contains("barrier ids are 0 .. 3 (--barriers 4; a larger --barriers gives more)", barrierError.Message, StringComparison.Ordinal);
            drone.Barrier(3);
        });
    }

    private readonly record struct Layout(long Array, int Count, double Scale, Guid Run);

    /// <summary>
    /// Distribute takes any unmanaged value (a struct of drone 0's choosing) and a range of private bytes, again and again
    /// (the blocks that carry them are reused, not leaked); a drone whose buffer is not as long as drone 0's is told so.
    /// </summary>
    [Fact]
    public void Distribute_StructsAndByteRanges_EveryDroneGetsDroneZeros()
    {
        using var cluster = new DroneCluster(3);
        var got = new Layout[3];
        var bytes = new byte[3][];
        long freeBefore = 0;
        long freeAfter = 0;
        cluster.Run(id =>
        {
            var drone = cluster[id];
            var mine = id == 0 ? new Layout(0x1000, 77, 2.5, Guid.NewGuid()) : new Layout(-1, -1, -1, Guid.Empty);
            got[id] = drone.Distribute(mine);

            bytes[id] = new byte[5000];
            if (id == 0)
            {
                new Random(9).NextBytes(bytes[id]);
            }

            drone.Distribute(bytes[id]);
            _ = drone.Distribute(id); // an int: the block pending from here on is an int's, as after the rounds below
            if (id == 0)
            {
                freeBefore = drone.Allocator.FreeBytes;
            }

            for (var round = 0; round < 50; round++)
            {
                var value = drone.Distribute(id == 0 ? round * 3 : -1);
                Assert.True(value == round * 3, $"drone {id}, round {round}: distributed {value}, expected {round * 3}");
            }

            if (id == 0)
            {
                freeAfter = drone.Allocator.FreeBytes;
            }

            var wrong = id == 2 ? Assert.Throws<ArgumentException>(() => drone.Distribute(new byte[10])) : null;
            if (id != 2)
            {
                drone.Distribute(new byte[11]);
            }
            else
            {
                Assert.Contains("Distribute of 10 bytes, but drone 0 distributed 11", wrong!.Message, StringComparison.Ordinal);
            }
        });
        Assert.True(got.All(g => g == got[0]) && got[0].Count == 77, $"drones got {string.Join(", ", got)}");
        Assert.True(bytes[1].AsSpan().SequenceEqual(bytes[0]) && bytes[2].AsSpan().SequenceEqual(bytes[0]), "a drone's buffer did not get drone 0's 5000 bytes");
        Assert.True(freeAfter == freeBefore, $"drone 0's free shared memory went from {freeBefore} to {freeAfter} bytes over 50 distributions: blocks leaked");
    }

    [Fact]
    public void Oracles_WithDroneInstances_Hold()
    {
        using (var cluster = new DroneCluster(4))
        {
            LrcOracles.SeedExample(cluster);
        }

        using (var cluster = new DroneCluster(3))
        {
            LrcOracles.LockedCounters(cluster, seed: 61);
            LrcOracles.BarrierPhases(cluster);
        }
    }

    /// <summary>Drone 0 is gone while drone 1 waits at a barrier: no view change can mend that, so the wait ends with the reason.</summary>
    [Fact]
    public void DroneZeroGone_AWaitingDrone_EndsWithTheReason()
    {
        var cluster = new DroneCluster(2);
        try
        {
            Exception? ended = null;
            using var done = new ManualResetEventSlim();
            var waiter = new Thread(() =>
            {
                ended = Record.Exception(() => cluster[1].Barrier(0));
                done.Set();
            });
            waiter.Start();
            cluster[0].Dispose();
            Assert.True(done.Wait(TimeSpan.FromSeconds(30)), "drone 1 still waited at barrier 0 30 s after drone 0 was gone");
            Assert.True(ended is RunAbortedException, $"drone 1's barrier ended with {ended?.GetType().Name ?? "no exception"}: {ended?.Message}");
            Assert.Contains("drone 0 failed", ended!.Message, StringComparison.Ordinal);
        }
        finally
        {
            cluster[1].Dispose();
        }
    }
}
