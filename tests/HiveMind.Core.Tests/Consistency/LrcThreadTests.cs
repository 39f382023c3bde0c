namespace HiveMind.Core.Tests.Consistency;

/// <summary>
/// Several threads of one drone between two synchronizations: faults from all of them at once, on the same pages, must
/// each count (a page written by any of them is in the interval's write notices), and a miss is made once, not over
/// another thread's writes.
/// </summary>
public sealed class LrcThreadTests
{
    private const int Pages = 64;
    private const int Ints = Pages * 1024;

    [Theory]
    [InlineData(2, 4)]
    [InlineData(3, 8)]
    public void Threads_WritingInterleavedWordsOfTheSamePages_ThenABarrier_EveryDroneReadsEveryWrite(int drones, int threads)
    {
        using var cluster = new InMemoryCluster(drones);
        for (var round = 1; round <= 6; round++)
        {
            // A different drone writes each round, so the writer's own copies are invalid (the last writer's) and its
            // threads' write faults make misses too.
            var writer = round % drones;
            var value = round;
            var ran = new HashSet<int>();
            cluster.Run(id =>
            {
                var drone = cluster.View(id);
                if (id == writer)
                {
                    OnThreads(threads, ran, t =>
                    {
                        for (var k = t; k < Ints; k += threads)
                        {
                            drone.Heap.Write(4L * k, (k * 10) + value);
                        }
                    });
                }

                drone.Barrier(0);
            });
            Assert.True(ran.Count == threads, $"round {round}: {ran.Count} distinct threads wrote on drone {writer}, expected {threads}");

            for (var id = 0; id < drones; id++)
            {
                if (id == writer)
                {
                    continue;
                }

                var stale = new List<string>();
                var heap = cluster.Heaps[id];
                var reader = id;
                cluster.Run(d =>
                {
                    if (d != reader)
                    {
                        return;
                    }

                    OnThreads(threads, [], t =>
                    {
                        for (var k = t; k < Ints; k += threads)
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
                Assert.True(stale.Count == 0, $"round {round}: drone {id} read {stale.Count} stale values after drone {writer}'s {threads} threads wrote and a barrier; first: {string.Join("; ", stale.Take(3))}");
            }
        }
    }

    /// <summary>Runs <paramref name="body"/> on <paramref name="threads"/> threads of their own, released together; rethrows the first failure.</summary>
    private static void OnThreads(int threads, HashSet<int> ran, Action<int> body)
    {
        using var start = new Barrier(threads);
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            lock (ran)
            {
                ran.Add(Environment.CurrentManagedThreadId);
            }

            start.SignalAndWait();
            try
            {
                body(t);
            }
            catch (Exception error)
            {
                errors.Enqueue(error);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => Assert.True(w.Join(TimeSpan.FromSeconds(60)), "a drone's thread did not finish within 60 s"));
        if (errors.TryDequeue(out var first))
        {
            throw new AggregateException(first);
        }
    }
}
