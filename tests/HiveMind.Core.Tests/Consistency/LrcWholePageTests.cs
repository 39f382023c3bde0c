using HiveMind.Consistency;
using HiveMind.Memory;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>
/// Whole pages after a garbage collection, pinned by counting: a range miss asks each holder for its pages in batched
/// requests (as many pages a request as a reply may hold), all sent at once, never one request per page.
/// </summary>
public sealed class LrcWholePageTests
{
    private const long EveryBarrier = 1; // any consistency data at all passes this threshold
    private const int PageSize = 4096;
    private const int Pages = 150;
    private const int FirstPage = 1;

    /// <summary>
    /// Drone 1 writes 150 pages (or drones 1 and 2 half each), the barrier collects, and drone 0 reads them all through
    /// one span: one batch of ceil(pages / MaxPagesPerPageRequest) requests to each holder (64 pages a request: what
    /// the default reply budget holds of 4 KiB pages, at most 64), every page whole from its holder.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void RangeMiss_AfterCollection_AsksEachHolderForItsPagesInBatchesOf64(int holders)
    {
        using var cluster = WrittenAndCollected(holders, out var writerOf);
        var before = cluster.Engines[0].Statistics.WholePagesFetched;
        ReadAndCheck(cluster, writerOf);

        var perRequest = cluster.Engines[0].MaxPagesPerPageRequest;
        var requests = Enumerable.Range(1, holders).Select(h => cluster.Delivered.GetValueOrDefault((h, nameof(PageRequest)))).ToArray();
        var expected = Enumerable.Range(1, holders).Select(h => (long)Math.Ceiling(writerOf.Count(w => w == h) / (double)perRequest)).ToArray();
        Assert.True(
            requests.SequenceEqual(expected),
            $"drone 0 sent [{string.Join(", ", requests)}] page request(s) to drones 1..{holders} for {Pages} pages after a collection, expected [{string.Join(", ", expected)}] ({perRequest} pages a request)");
        var batches = cluster.Batches.Where(b => b.Drone == 0).Select(b => b.Requests).ToList();
        Assert.True(batches.SequenceEqual([(int)expected.Sum()]), $"drone 0 sent request batches of [{string.Join(", ", batches)}] for {Pages} whole pages of {holders} holder(s), expected one batch of {expected.Sum()}");
        var fetched = cluster.Engines[0].Statistics.WholePagesFetched - before;
        Assert.True(fetched == Pages, $"drone 0 counted {fetched} whole pages fetched for a range miss of {Pages} pages that each needed one");
    }

    /// <summary>A reply budget of 10 pages makes requests of 9 (a page and its few bytes of overhead each); a budget under a page, requests of 1.</summary>
    [Theory]
    [InlineData(10 * PageSize, 9)]
    [InlineData(1, 1)]
    public void RangeMiss_AfterCollection_AsksForWhatTheReplyBudgetHolds(long budget, int perRequest)
    {
        using var cluster = WrittenAndCollected(holders: 1, out var writerOf);
        foreach (var engine in cluster.Engines)
        {
            engine.MaxReplyBytes = budget;
        }

        ReadAndCheck(cluster, writerOf);
        var requests = cluster.Delivered.GetValueOrDefault((1, nameof(PageRequest)));
        var expected = (Pages + perRequest - 1) / perRequest;
        Assert.True(requests == expected, $"drone 0 sent {requests} page request(s) to drone 1 for {Pages} pages with a reply budget of {budget} bytes ({PageSize}-byte pages), expected {expected} ({perRequest} a request)");
    }

    /// <summary>
    /// A range longer than a batch of whole pages (150 pages of 64 KiB: 9.4 MiB, 10 requests of 15 pages) goes out in
    /// batches of at most <see cref="LrcEngine.MaxWholePageBatchBytes"/> of pages, each installed before the next is sent,
    /// so that a range miss holds about a batch of replies at once however long the range; with two holders each batch
    /// asks both in turn (4 requests each in the first batch of 8, not 5 and 3).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void RangeMiss_AfterCollection_LongerThanABatch_AsksBatchAfterBatch_InstallingEachBeforeTheNext(int holders)
    {
        const int pageSize = 64 << 10;
        using var cluster = WrittenAndCollected(holders, out var writerOf, pageSize: pageSize);
        var perRequest = cluster.Engines[0].MaxPagesPerPageRequest;
        var perBatch = (int)(LrcEngine.MaxWholePageBatchBytes / ((long)perRequest * pageSize));
        var requests = Pages / perRequest;
        Assert.True(Pages / holders % perRequest == 0, $"{Pages / holders} pages a holder do not fill requests of {perRequest}: the expected batches below assume full requests");
        var expected = Enumerable.Range(0, requests).Chunk(perBatch).Select(batch => batch.Length).ToArray();
        Assert.True(expected.Length > 1, $"{Pages} pages of {pageSize} bytes in requests of {perRequest} fit one batch of {LrcEngine.MaxWholePageBatchBytes} bytes: the test asks for more");

        // As each holder serves each request: how many of the pages drone 0 asked for are installed there.
        var served = new List<(int Holder, int First, int Installed)>();
        cluster.ForgeReply = (server, asker, reply) =>
        {
            if (reply is PageReply { Copies: [var first, ..] })
            {
                var installed = Enumerable.Range(FirstPage, Pages).Count(p => !cluster.Heaps[0].GetEntry(p).NeedsWholePage);
                lock (served)
                {
                    served.Add((server, first.Page, installed));
                }
            }

            return reply;
        };
        ReadAndCheck(cluster, writerOf);

        var batches = cluster.Batches.Where(b => b.Drone == 0).Select(b => b.Requests).ToArray();
        Assert.True(
            batches.SequenceEqual(expected),
            $"drone 0 sent request batches of [{string.Join(", ", batches)}] for {Pages} whole pages of {pageSize} bytes ({perRequest} a request) from {holders} holder(s), expected [{string.Join(", ", expected)}] (at most {LrcEngine.MaxWholePageBatchBytes} bytes of pages a batch)");
        Assert.True(served.Count == requests, $"drones 1..{holders} served {served.Count} page request(s) of drone 0, expected {requests}");
        for (var holder = 1; holder <= holders; holder++)
        {
            // A holder's j-th request is the (j * holders + holder - 1)-th sent: the holders take turns.
            var mine = served.Where(s => s.Holder == holder).ToList();
            for (var j = 0; j < mine.Count; j++)
            {
                var batch = ((j * holders) + holder - 1) / perBatch;
                var before = batch * perBatch * perRequest;
                Assert.True(
                    mine[j].Installed == before,
                    $"drone {holder} served drone 0's request for pages from {mine[j].First} (its request {j}, in batch {batch}) while drone 0 had {mine[j].Installed} of the pages installed, expected the {before} of the batches before it");
            }
        }
    }

    /// <summary>
    /// A holder that stops answering mid-batch: 4 drones, drones 1 and 2 each wrote 75 of the pages, and drone 0's batch
    /// (2 requests to each) fails as a whole on frozen drone 2 though drone 1 answered. Once the view removes drone 2,
    /// drone 0 asks drone 1 again for all its 75 pages (2 requests) and reads them right, and keeps its stale copy of
    /// drone 2's 75, whose writes died with it: 75 pages fetched (none counted twice), 75 resurrected.
    /// </summary>
    [Fact]
    public void RangeMiss_HolderUnreachableMidBatch_AsksTheWholeBatchAgainOnceTheHolderIsRemoved()
    {
        using var cluster = WrittenAndCollected(holders: 2, out var writerOf, drones: 4);
        var statistics = cluster.Engines[0].Statistics;
        var (fetched, resurrected) = (statistics.WholePagesFetched, statistics.PagesResurrected);
        var servedBefore = cluster.Handled.GetValueOrDefault((1, nameof(PageRequest)));
        var whole = new List<int[]>(); // the pages of each request for more than one page that drone 1 served drone 0
        cluster.ForgeReply = (server, asker, reply) =>
        {
            if (server == 1 && asker == 0 && reply is PageReply { Copies.Length: > 1 } copies)
            {
                whole.Add([.. copies.Copies.Select(c => c.Page)]);
            }

            return reply;
        };

        cluster.Freeze(2);
        var words = Array.Empty<int>();
        cluster.Run(id =>
        {
            if (id == 0)
            {
                words = ReadAll(cluster);
            }
            else if (id == 2)
            {
                // Drone 0's batch went out once drone 1 served its 2 requests of it (those to drone 2 failed at once).
                cluster.WaitHandled<PageRequest>(1, servedBefore + 2);
                cluster.Fail(2);
            }
        });

        Check(words, PageSize, writerOf, lost: [2]);
        var batches = cluster.Batches.Where(b => b.Drone == 0 && b.Requests > 1).Select(b => b.Requests).ToArray();
        Assert.True(batches.SequenceEqual([4, 2]), $"drone 0 sent request batches of [{string.Join(", ", batches)}] (those of more than one request) for {Pages} whole pages of drones 1 and 2 with drone 2 failing, expected [4, 2]: 2 requests to each, then drone 1's 2 again");
        int[][] once = [.. Enumerable.Range(FirstPage, Pages).Where(p => writerOf[p - FirstPage] == 1).Chunk(cluster.Engines[0].MaxPagesPerPageRequest)];
        int[][] expected = [.. once, .. once];
        Assert.True(
            whole.Count == expected.Length && whole.Zip(expected).All(pair => pair.First.SequenceEqual(pair.Second)),
            $"drone 1 served drone 0 whole-page requests for [{string.Join("; ", whole.Select(Describe))}], expected its pages twice: [{string.Join("; ", expected.Select(Describe))}]");
        var (newlyFetched, newlyResurrected) = (statistics.WholePagesFetched - fetched, statistics.PagesResurrected - resurrected);
        Assert.True(newlyFetched == Pages / 2, $"drone 0 counted {newlyFetched} whole pages fetched, expected drone 1's {Pages / 2} (counted once, though asked twice)");
        Assert.True(newlyResurrected == Pages / 2, $"drone 0 counted {newlyResurrected} pages resurrected, expected failed drone 2's {Pages / 2}");

        static string Describe(int[] pages) => $"{pages[0]}..{pages[^1]} ({pages.Length})";
    }

    /// <summary>Bad whole-page requests to a drone of 3 with 4 KiB pages and the default reply budget, whose limit is 64 pages a request.</summary>
    public static TheoryData<string, int[], string> BadRequests => new()
    {
        { "no page", [], "asked for 0 whole page(s) in one request (1 to 64)" },
        { "65 pages", [.. Enumerable.Range(0, 65)], "asked for 65 whole page(s) in one request (1 to 64)" },
        { "page -1", [3, -1], "asked for page -1, outside the heap of 256 pages" },
        { "the page past the heap", [3, 256], "asked for page 256, outside the heap of 256 pages" },
        { "a page twice", [3, 4, 5, 4], "asked for page 4 twice in one request of 4 page(s)" },
    };

    /// <summary>A holder answers only a whole-page request of 1 to the limit of pages, each inside the heap and once; any other it refuses, naming the asker, the count or page and the limit.</summary>
    [Theory]
    [MemberData(nameof(BadRequests))]
    public void Serve_BadPageRequest_IsRefusedNamingTheAskerAndWhatIsWrong(string what, int[] pages, string expected)
    {
        using var cluster = new InMemoryCluster(3, new HeapOptions { PageSize = PageSize, HeapSize = PageSize * 256L });
        var error = Record.Exception(() => cluster.Engines[1].Serve(2, new PageRequest(pages), () => { }));
        Assert.True(error is InvalidOperationException, $"drone 1 answered a page request of drone 2 for {what} ({error?.GetType().Name ?? "no error"}: {error?.Message})");
        Assert.Contains($"Drone 1: drone 2 {expected}", error!.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> ForgedReplies
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var (name, (_, expected)) in Forgeries())
            {
                data.Add(name, expected);
            }

            return data;
        }
    }

    /// <summary>
    /// A holder's reply whose copies are not the pages asked (another type, too few copies, another page, a copy of a
    /// length not a page's, an applied vector not of the run, no copy at all) fails the miss with an InvalidDataException
    /// that names the holder, the page and what came; nothing of it is installed.
    /// </summary>
    [Theory]
    [MemberData(nameof(ForgedReplies))]
    public void RangeMiss_ReplyThatIsNotTheCopiesAsked_FailsNamingHolderPageAndWhatCame(string forgery, string expected)
    {
        using var cluster = WrittenAndCollected(holders: 1, out _);
        var forge = Forgeries()[forgery].Forge;
        cluster.ForgeReply = (server, asker, reply) => reply is PageReply pages && pages.Copies.Length > 1 ? forge(pages) : reply;
        var error = Record.Exception(() => cluster.Heaps[0].ReadSpan<int>((long)FirstPage * PageSize, Pages * PageSize / 4).ToArray());
        Assert.True(error is InvalidDataException, $"drone 0's range miss took a reply of drone 1 with {forgery} ({error?.GetType().Name ?? "no error"}: {error?.Message})");
        Assert.Contains($"Drone 0: drone 1 answered the request for {expected}", error!.Message, StringComparison.Ordinal);
        var installed = Enumerable.Range(FirstPage, Pages).Count(p => !cluster.Heaps[0].GetEntry(p).NeedsWholePage);
        Assert.True(installed == 0, $"drone 0 installed {installed} page(s) of a reply with {forgery}, though none of them came before it");
    }

    /// <summary>Each forgery of the first reply (pages 1..64 of drone 1) and the fragment of the error it must raise.</summary>
    private static Dictionary<string, (Func<PageReply, ProtocolMessage> Forge, string Expected)> Forgeries() => new()
    {
        ["a diff reply"] = (_ => new DiffReply([]), "64 page(s) [1, 2, 3, "),
        ["one copy short"] = (r => new PageReply(r.Copies[..^1]), "64 page(s) [1, 2, 3, "),
        ["another page's copy"] = (r => new PageReply([r.Copies[1], .. r.Copies[1..]]), "page 1 with a copy of page 2 in its place (0 of 64)"),
        ["a copy of 100 bytes"] = (r => new PageReply([.. r.Copies[..5], r.Copies[5] with { Bytes = new byte[100] }, .. r.Copies[6..]]), "page 6 with a copy of 100 bytes (a page holds 4096, no copy 0)"),
        ["an applied vector of 2 entries"] = (r => new PageReply([r.Copies[0] with { Applied = [0, 1] }, .. r.Copies[1..]]), "page 1 with an applied vector of 2 entries in a run of 3 drone slots"),
        ["no copy of a page"] = (r => new PageReply([.. r.Copies[..2], r.Copies[2] with { Bytes = ReadOnlyMemory<byte>.Empty }, .. r.Copies[3..]]), "page 3 with no copy of it"),
    };

    /// <summary>
    /// <paramref name="drones"/> drones (3 by default) with pages of <paramref name="pageSize"/> bytes; drone 1 writes
    /// pages 1..150 (with <paramref name="holders"/> 2, drone 2 writes the second half), then a barrier that collects:
    /// drone 0's copies of them need whole pages. <paramref name="writerOf"/>: each page's writer.
    /// </summary>
    private static InMemoryCluster WrittenAndCollected(int holders, out int[] writerOf, int drones = 3, int pageSize = PageSize)
    {
        var writers = Enumerable.Range(0, Pages).Select(i => holders == 1 || i < Pages / 2 ? 1 : 2).ToArray();
        writerOf = writers;
        var cluster = new InMemoryCluster(drones, new HeapOptions { PageSize = pageSize, HeapSize = pageSize * 256L }, EveryBarrier);
        cluster.Run(id =>
        {
            for (var i = 0; i < Pages; i++)
            {
                if (writers[i] == id)
                {
                    var words = cluster.Heaps[id].WriteSpan<int>((long)(FirstPage + i) * pageSize, pageSize / 4);
                    for (var k = 0; k < words.Length; k++)
                    {
                        words[k] = Value(FirstPage + i, k);
                    }
                }
            }

            cluster.Engines[id].Barrier(0);
        });

        var collections = cluster.Engines[0].Statistics.GarbageCollections;
        Assert.True(collections >= 1, $"drone 0 ran {collections} garbage collections at a barrier with a threshold of {EveryBarrier} byte");
        var whole = Enumerable.Range(FirstPage, Pages).Count(p => cluster.Heaps[0].GetEntry(p).NeedsWholePage);
        Assert.True(whole == Pages, $"drone 0 has {whole} of pages {FirstPage}..{FirstPage + Pages - 1} marked for a whole-page fetch after the collection, expected all {Pages}");
        cluster.Batches.Clear();
        return cluster;
    }

    /// <summary>Drone 0 reads every word of the pages through one span (one range miss) and checks each against its writer's value.</summary>
    private static void ReadAndCheck(InMemoryCluster cluster, int[] writerOf) => Check(ReadAll(cluster), cluster.Heaps[0].PageSize, writerOf, lost: []);

    /// <summary>Drone 0 reads every word of the pages through one span: one range miss.</summary>
    private static int[] ReadAll(InMemoryCluster cluster)
    {
        var pageSize = cluster.Heaps[0].PageSize;
        return cluster.Heaps[0].ReadSpan<int>((long)FirstPage * pageSize, Pages * pageSize / 4).ToArray();
    }

    /// <summary>
    /// Checks the words drone 0 read against their writers' values, or 0 (what drone 0's copy held before) for a page
    /// whose writer is among <paramref name="lost"/>: its writes died with it.
    /// </summary>
    private static void Check(int[] words, int pageSize, int[] writerOf, int[] lost)
    {
        for (var i = 0; i < words.Length; i++)
        {
            var (page, k) = (FirstPage + (i / (pageSize / 4)), i % (pageSize / 4));
            var writer = writerOf[page - FirstPage];
            var expected = lost.Contains(writer) ? 0 : Value(page, k);
            Assert.True(
                words[i] == expected,
                $"drone 0 reads {words[i]} at 0x{((long)page * pageSize) + (4L * k):X} (page {page}, drone {writer}'s{(lost.Contains(writer) ? ", which failed" : string.Empty)}) after the collection, expected {expected}");
        }
    }

    private static int Value(int page, int word) => (page * 10_000) + word + 1;
}
