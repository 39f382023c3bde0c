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
            if (id != 0)
            {
                var error = Assert.Throws<InvalidOperationException>(() => drone.Malloc(16));
                Assert.Contains("Malloc runs on drone 0", error.Message, StringComparison.Ordinal);
            }

            drone.LockAcquire(5);
            drone.Heap.Write(address, drone.Heap.Read<int>(address) + 1);
            drone.LockRelease(5);
            drone.Barrier(0);
            var total = drone.Heap.Read<int>(address);
            Assert.True(total == 3, $"drone {id} reads {total} at 0x{address:X} after every drone added 1 under lock 5");
        });
        Assert.True(seen.Distinct().Count() == 1 && seen[0] > 0, $"drones got addresses {string.Join(", ", seen)}");
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
