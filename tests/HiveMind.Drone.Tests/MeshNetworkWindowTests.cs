using HiveMind.Consistency;
using HiveMind.Wire;

namespace HiveMind.DroneTests;

/// <summary>What the mesh network's window per peer expects a reply to hold: it sends a request when the replies awaited leave room for its own.</summary>
public sealed class MeshNetworkWindowTests
{
    /// <summary>
    /// A whole-page request for n pages expects about n pages of reply: never less than the largest reply a holder can
    /// make (every page whole, page numbers and applied vectors at their longest encoding), and at most a few bytes a page more.
    /// </summary>
    [Theory]
    [InlineData(4096, 3, 1)]
    [InlineData(4096, 3, 64)]
    [InlineData(4096, 64, 64)]
    [InlineData(1 << 16, 8, 15)]
    public void ExpectedReplyBytes_PageRequestOfNPages_IsTheLargestReplyOfNPages(int pageSize, int drones, int pages)
    {
        var asked = Enumerable.Range(int.MaxValue - pages, pages).ToArray();
        var reply = new PageReply([.. asked.Select(page => new PageCopy(page, new byte[pageSize], Enumerable.Repeat(int.MaxValue, drones).ToArray()))]);
        var largest = ProtocolCodecTests.Encode(reply).Length;
        var expected = MeshNetwork.ExpectedReplyBytes(new PageRequest(asked), pageSize, LrcEngine.DefaultReplyBytes(pageSize), drones);
        Assert.True(
            expected >= largest && expected <= largest + (16L * pages),
            $"the window expects {expected} bytes for a reply to a request for {pages} page(s) of {pageSize} bytes in a run of {drones} slots, whose largest reply encodes to {largest} bytes (expected {largest} to {largest + (16L * pages)})");
    }
}
