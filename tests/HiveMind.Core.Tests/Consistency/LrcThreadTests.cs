namespace HiveMind.Core.Tests.Consistency;

/// <summary>
/// Several threads of one drone between two synchronizations: faults from all of them at once must each count (a page
/// written by any of them is in the interval's write notices), and a miss is made once, not over another thread's writes.
/// </summary>
public sealed class LrcThreadTests
{
    private const int Pages = 64;
    private const int Ints = Pages * 1024;

    [Theory]
    [InlineData(2, 4)]
    [InlineData(3, 8)]
    public void ParallelFor_WritingDisjointSlices_ThenABarrier_EveryDroneReadsEveryWrite(int drones, int threads)
    {
        using var cluster = new InMemoryCluster(drones);
        for (var round = 1; round <= 6; round++)
        {
            var value = round;
            cluster.Run(id =>
            {
                var drone = cluster.View(id);
                if (id == 0)
                {
                    // Disjoint slices of a page or less each, written by the pool's threads at once (every page faults).
                    Parallel.For(0, Ints / 256, new ParallelOptions { MaxDegreeOfParallelism = threads }, slice =>
                    {
                        for (var k = slice * 256; k < (slice + 1) * 256; k++)
                        {
                            drone.Heap.Write(4L * k, (k * 10) + value);
                        }
                    });
                }

                drone.Barrier(0);
            });

            for (var id = 1; id < drones; id++)
            {
                var stale = new List<string>();
                var heap = cluster.Heaps[id];
                cluster.Run(reader =>
                {
                    if (reader != id)
                    {
                        return;
                    }

                    // Read by the pool's threads too: their misses of the same pages at once.
                    Parallel.For(0, Ints / 256, new ParallelOptions { MaxDegreeOfParallelism = threads }, slice =>
                    {
                        for (var k = slice * 256; k < (slice + 1) * 256; k++)
                        {
                            var got = heap.Read<int>(4L * k);
                            if (got != (k * 10) + value)
                            {
                                lock (stale)
                                {
                                    stale.Add($"0x{4 * k:X}: {got}, expected {(k * 10) + value}");
                                }
                            }
                        }
                    });
                });
                Assert.True(stale.Count == 0, $"round {round}: drone {id} read {stale.Count} stale values after drone 0's {threads} threads wrote and a barrier; first: {string.Join("; ", stale.Take(3))}");
            }
        }
    }
}
