using System.Collections.Concurrent;
using System.Security.Cryptography;
using HiveMind.Consistency;
using HiveMind.Memory;
using HiveMind.Net.Transport;
using HiveMind.Wire;

namespace HiveMind.DroneTests;

/// <summary>N drones in this process, each with a heap, an engine and a mesh node, linked over loopback TCP.</summary>
internal sealed class MeshCluster : ILrcCluster, IDisposable
{
    private readonly MeshNode[] _nodes;

    /// <param name="drones">Drones of the run.</param>
    /// <param name="collectionThreshold">The engines' garbage collection threshold.</param>
    /// <param name="pathToDroneZero">Where the other drones dial drone 0 (a relay on the path, say), given where it listens.</param>
    public MeshCluster(int drones, long collectionThreshold = LrcEngine.DefaultCollectionThreshold, Func<System.Net.IPEndPoint, System.Net.IPEndPoint>? pathToDroneZero = null)
    {
        var options = new MeshOptions { ClusterKey = RandomNumberGenerator.GetBytes(32), FailureTimeout = TimeSpan.FromSeconds(30) };
        var heapOptions = new HeapOptions { PageSize = 4096, HeapSize = 4096 * 64 };
        Heaps = Enumerable.Range(0, drones).Select(_ => new SharedHeap(heapOptions)).ToArray();
        var networks = Enumerable.Range(0, drones).Select(_ => new MeshNetwork(drones, TimeSpan.FromSeconds(60))).ToArray();
        _nodes = Enumerable.Range(0, drones).Select(i => new MeshNode(i, options, networks[i])).ToArray();
        Engines = Enumerable.Range(0, drones).Select(i => new LrcEngine(i, drones, Heaps[i], networks[i], TimeSpan.FromSeconds(60), collectionThreshold)).ToArray();
        for (var i = 0; i < drones; i++)
        {
            networks[i].Attach(_nodes[i], Engines[i]);
        }

        var errors = new ConcurrentQueue<string>();
        var registry = pathToDroneZero?.Invoke(_nodes[0].ListenEndpoint) ?? _nodes[0].ListenEndpoint;
        var threads = _nodes.Select(node => new Thread(() =>
        {
            try
            {
                node.FormMesh(drones, registry, TimeSpan.FromSeconds(30));
            }
            catch (MeshException error)
            {
                errors.Enqueue(error.Message);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60)), "forming the mesh did not finish within 60 s"));
        Assert.True(errors.IsEmpty, string.Join("; ", errors));
        foreach (var node in _nodes)
        {
            node.PeerFailed += (peer, reason) => Failures.Enqueue($"drone {node.Id} lost drone {peer}: {reason}");
            node.LinkBroken += (peer, reason) => Breaks.Enqueue($"drone {node.Id}'s connection to drone {peer} broke: {reason}");
        }
    }

    /// <summary>Connections that broke under a link that went on.</summary>
    public ConcurrentQueue<string> Breaks { get; } = new();

    public SharedHeap[] Heaps { get; }

    public int Drones => Engines.Length;

    public IDroneView View(int id) => new EngineView(Engines[id], Heaps[id]);

    public LrcEngine[] Engines { get; }

    /// <summary>Links that failed during the run (a protocol frame that could not be handled closes its link).</summary>
    public ConcurrentQueue<string> Failures { get; } = new();

    public long MessagesSent => _nodes.Sum(n => n.ConnectedPeers.Sum(p => n.GetLink(p)!.Counters.TotalSentMessages));

    public void Run(Action<int> body, TimeSpan? timeout = null)
    {
        DroneThreads.Run(Engines.Length, body, timeout, () => $"link failures: {string.Join("; ", Failures)}");
        Assert.True(Failures.IsEmpty, $"link failures: {string.Join("; ", Failures)}");
    }

    public void Dispose()
    {
        foreach (var node in _nodes)
        {
            node.Dispose();
        }

        foreach (var heap in Heaps)
        {
            heap.Dispose();
        }
    }
}
