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
}
