using System.Collections.Concurrent;

namespace HiveMind.Testing;

/// <summary>Runs a body as the application thread of each drone of a cluster in this process.</summary>
internal static class DroneThreads
{
    /// <summary>
    /// Starts one thread per drone, waits for all (failing if one outlives <paramref name="timeout"/>, with
    /// <paramref name="context"/> in the message), and rethrows the first drone's failure.
    /// </summary>
    public static void Run(int drones, Action<int> body, TimeSpan? timeout = null, Func<string>? context = null)
    {
        var failures = new ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, drones).Select(id => new Thread(() =>
        {
            try
            {
                body(id);
            }
            catch (Exception error)
            {
                failures.Enqueue(error);
            }
        })
        { Name = $"drone {id} app" }).ToList();
        threads.ForEach(t => t.Start());
        var limit = timeout ?? TimeSpan.FromSeconds(120);
        foreach (var thread in threads)
        {
            Assert.True(thread.Join(limit), $"{thread.Name} did not finish within {limit.TotalSeconds} s{(context is null ? string.Empty : "; " + context())}");
        }

        if (failures.TryDequeue(out var first))
        {
            throw new InvalidOperationException($"{failures.Count + 1} drone(s) failed; first: {first.Message}", first);
        }
    }
}
