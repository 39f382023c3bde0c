using System.Security.Cryptography;

namespace HiveMind.Net.Tests.Transport;

[Collection(TimingCollection.Name)]
public sealed class ProcessMeshTests
{
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(60);

    // The test node's failure timeout is 1.5 s and its heartbeat 100 ms; allow for a loaded 2-core machine.
    private static readonly TimeSpan Detect = TimeSpan.FromSeconds(5);

    [Fact]
    public void ProcessMesh_FramesInOrder_KillAndFreezeDetectedByEveryOtherNode()
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var nodes = new List<NodeProcess>();
        try
        {
            nodes.Add(new NodeProcess(0, 4, null, key));
            var registry = nodes[0].WaitForLine("listening ", Start)["listening ".Length..];
            for (var id = 1; id < 4; id++)
            {
                nodes.Add(new NodeProcess(id, 4, registry, key));
            }

            foreach (var node in nodes)
            {
                node.WaitForLine("mesh formed", Start);
                foreach (var peer in nodes.Where(p => p != node))
                {
                    node.WaitForLine($"in order from {peer.Id}", Start);
                }

                Assert.False(node.Printed("out of order"), $"node {node.Id} saw frames out of order");
            }

            // kill -9: every other node reports drone 3.
            nodes[3].KillHard();
            foreach (var node in nodes.Take(3))
            {
                node.WaitForLine("failed 3: ", Detect);
            }

            // SIGSTOP: the frozen drone 2 is reported as silent by 0 and 1, and its links stay up (a silent drone may be a
            // slow one: whoever decides removes it).
            nodes[2].Signal(NodeProcess.SigStop);
            foreach (var node in nodes.Take(2))
            {
                node.WaitForLine("silent 2: ", Detect);
                Assert.False(node.Printed("failed 2"), $"node {node.Id} closed its link to the silent node 2 by itself");
            }

            // The decision (as a view that removes it): 0 and 1 disconnect it. SIGCONT: drone 2 finds itself cut off from
            // everyone; nobody takes it back silently.
            foreach (var node in nodes.Take(2))
            {
                node.Tell("disconnect 2");
                node.WaitForLine("disconnected 2", Detect);
            }

            nodes[2].Signal(NodeProcess.SigCont);
            nodes[2].WaitForLine("failed 0: ", Detect);
            nodes[2].WaitForLine("failed 1: ", Detect);
            Assert.False(nodes[0].Printed("failed 1"), "node 0 reported node 1, which stayed alive");
            Assert.False(nodes[1].Printed("failed 0"), "node 1 reported node 0, which stayed alive");
        }
        finally
        {
            foreach (var node in nodes)
            {
                node.Dispose();
            }
        }
    }
}
