namespace HiveMind.Core.Tests.Consistency;

public sealed class LrcRangeFaultTests
{
    [Fact]
    public void SpanOverInvalidPages_AsksEachWriterOnceForAllItsPages()
    {
        const int Pages = 12;
        using var cluster = new InMemoryCluster(3);
        cluster.Run(id =>
        {
            var drone = cluster.View(id);
            if (id is 1 or 2)
            {
                // Two writers on every page (interleaved words): each page needs a diff from each.
                for (var k = id - 1; k < Pages * 1024; k += 2)
                {
                    drone.Heap.Write(4096L + (4L * k), k);
                }
            }

            drone.Barrier(0);
        });
        cluster.Batches.Clear();
        var values = cluster.Heaps[0].ReadSpan<int>(4096, Pages * 1024).ToArray();
        for (var k = 0; k < values.Length; k++)
        {
            Assert.True(values[k] == k, $"drone 0 reads {values[k]} at 0x{4096 + (4 * k):X} through a span, expected {k}");
        }

        var batches = cluster.Batches.Where(b => b.Drone == 0).Select(b => b.Requests).ToList();
        Assert.True(batches.SequenceEqual([2]), $"drone 0 sent request batches of [{string.Join(", ", batches)}] for {Pages} pages of 2 writers, expected one batch of 2 (one request per writer)");
    }
}
