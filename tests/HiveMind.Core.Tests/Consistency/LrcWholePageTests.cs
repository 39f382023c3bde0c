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
    /// one span: one batch of ceil(pages / 64) requests to each holder, every page whole from its holder.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void RangeMiss_AfterCollection_AsksEachHolderForItsPagesInBatchesOf64(int holders)
    {
        using var cluster = WrittenAndCollected(holders, out var writerOf);
        var before = cluster.Engines[0].Statistics.WholePagesFetched;
        ReadAndCheck(cluster, writerOf);

        var requests = Enumerable.Range(1, holders).Select(h => cluster.Delivered.GetValueOrDefault((h, nameof(PageRequest)))).ToArray();
        var expected = Enumerable.Range(1, holders).Select(h => (long)Math.Ceiling(writerOf.Count(w => w == h) / (double)LrcEngine.MaxPagesPerDiffRequest)).ToArray();
        Assert.True(
            requests.SequenceEqual(expected),
            $"drone 0 sent [{string.Join(", ", requests)}] page request(s) to drones 1..{holders} for {Pages} pages after a collection, expected [{string.Join(", ", expected)}] ({LrcEngine.MaxPagesPerDiffRequest} pages a request)");
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

    public static TheoryData<string, int[], string> BadRequests => new()
    {
        { "no page", [], "asked for 0 whole page(s) in one request (1 to 64)" },
        { "65 pages", [.. Enumerable.Range(0, LrcEngine.MaxPagesPerDiffRequest + 1)], "asked for 65 whole page(s) in one request (1 to 64)" },
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
    /// 3 drones; drone 1 writes pages 1..150 (with <paramref name="holders"/> 2, drone 2 writes the second half), then a
    /// barrier that collects: drone 0's copies of them need whole pages. <paramref name="writerOf"/>: each page's writer.
    /// </summary>
    private static InMemoryCluster WrittenAndCollected(int holders, out int[] writerOf)
    {
        var writers = Enumerable.Range(0, Pages).Select(i => holders == 1 || i < Pages / 2 ? 1 : 2).ToArray();
        writerOf = writers;
        var cluster = new InMemoryCluster(3, new HeapOptions { PageSize = PageSize, HeapSize = PageSize * 256L }, EveryBarrier);
        cluster.Run(id =>
        {
            for (var i = 0; i < Pages; i++)
            {
                if (writers[i] == id)
                {
                    var words = cluster.Heaps[id].WriteSpan<int>((long)(FirstPage + i) * PageSize, PageSize / 4);
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
    private static void ReadAndCheck(InMemoryCluster cluster, int[] writerOf)
    {
        var words = cluster.Heaps[0].ReadSpan<int>((long)FirstPage * PageSize, Pages * PageSize / 4).ToArray();
        for (var i = 0; i < words.Length; i++)
        {
            var (page, k) = (FirstPage + (i / (PageSize / 4)), i % (PageSize / 4));
            Assert.True(
                words[i] == Value(page, k),
                $"drone 0 reads {words[i]} at 0x{((long)page * PageSize) + (4L * k):X} (page {page}, drone {writerOf[page - FirstPage]}'s) after the collection, expected {Value(page, k)}");
        }
    }

    private static int Value(int page, int word) => (page * 10_000) + word + 1;
}
