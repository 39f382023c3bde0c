using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using HiveMind.Net.Codec;
using HiveMind.Net.Transport;
using MessagePack;

namespace HiveMind.Net.Tests.Transport;

/// <summary>Consumer used by the mesh tests: records frames of kind <see cref="Numbered"/>, echoes <see cref="Echo"/>, ignores <see cref="Silent"/>.</summary>
internal sealed class TestConsumer : IFrameConsumer
{
    public const byte Numbered = MessageKind.FirstApplicationKind;
    public const byte Echo = MessageKind.FirstApplicationKind + 1;
    public const byte Silent = MessageKind.FirstApplicationKind + 2;
    public const byte Fetch = MessageKind.FirstApplicationKind + 3;

    private readonly object _gate = new();

    public ConcurrentQueue<(int Peer, long Value)> Received { get; } = new();

    public int ReceivedCount => Received.Count;

    /// <summary>Frames of kind <see cref="Silent"/> handled so far.</summary>
    public int SilentCount { get; private set; }

    public bool IsKnownKind(byte kind) => kind is Numbered or Echo or Silent or Fetch;

    public void OnFrame(MeshNode node, int peer, byte kind, ulong requestId, ref MessagePackReader body)
    {
        switch (kind)
        {
            case Numbered:
                Received.Enqueue((peer, body.ReadInt64()));
                lock (_gate)
                {
                    Monitor.PulseAll(_gate);
                }

                break;
            case Echo:
                var payload = body.ReadBinary().ToArray();
                node.Reply(peer, requestId, payload, static (ref MessagePackWriter w, byte[] p) => w.Write(p));
                break;
            case Fetch:
                // A small request for a large reply, as a diff request is: the body is the reply's size.
                var size = body.ReadInt32();
                node.Reply(peer, requestId, size, static (ref MessagePackWriter w, int n) => w.Write(new byte[n]), size);
                break;
            default:
                body.SkipValue();
                lock (_gate)
                {
                    SilentCount++;
                    Monitor.PulseAll(_gate);
                }

                break;
        }
    }

    /// <summary>Waits until <paramref name="count"/> numbered frames arrived; fails naming what is missing.</summary>
    public void WaitFor(int count, TimeSpan timeout, string what) => WaitUntil(() => Received.Count, count, timeout, what);

    /// <summary>Waits until <paramref name="count"/> frames of kind <see cref="Silent"/> arrived.</summary>
    public void WaitForSilent(int count, TimeSpan timeout, string what) => WaitUntil(() => SilentCount, count, timeout, what);

    private void WaitUntil(Func<int> current, int count, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_gate)
        {
            while (current() < count)
            {
                var left = deadline - DateTime.UtcNow;
                Assert.True(left > TimeSpan.Zero, $"{what}: {current()} of {count} frames arrived within {timeout.TotalSeconds} s");
                Monitor.Wait(_gate, left);
            }
        }
    }
}

/// <summary>A mesh of nodes in this process over loopback; disposes them all.</summary>
/// <summary>Reads of reply bodies the tests make often.</summary>
internal static class ReplyBodies
{
    /// <summary>The bin that is the whole body of <paramref name="reply"/> (an echo, a fetch).</summary>
    public static ReadOnlyMemory<byte> BinaryBody(this Reply reply)
    {
        var reader = reply.Reader();
        return reader.ReadBinary();
    }
}

internal sealed class LocalMesh : IDisposable
{
    public LocalMesh(int drones, MeshOptions? options = null)
    {
        Options = options ?? NewOptions();
        Consumers = Enumerable.Range(0, drones).Select(_ => new TestConsumer()).ToArray();
        Nodes = Enumerable.Range(0, drones).Select(i => new MeshNode(i, Options, Consumers[i])).ToArray();
        var registry = Nodes[0].ListenEndpoint;
        var errors = new ConcurrentQueue<Exception>();
        var threads = Nodes.Select(node => new Thread(() =>
        {
            try
            {
                node.FormMesh(drones, registry, TimeSpan.FromSeconds(30));
            }
            catch (Exception error)
            {
                errors.Enqueue(error);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60)), "FormMesh did not return within 60 s"));
        Assert.True(errors.IsEmpty, $"forming a mesh of {drones}: {string.Join("; ", errors.Select(e => e.Message))}");
    }

    public MeshOptions Options { get; }

    public MeshNode[] Nodes { get; }

    public TestConsumer[] Consumers { get; }

    public static MeshOptions NewOptions(byte[]? key = null) => new()
    {
        ClusterKey = key ?? RandomNumberGenerator.GetBytes(32),
        ListenAddress = IPAddress.Loopback,
        HeartbeatInterval = TimeSpan.FromMilliseconds(100),
        FailureTimeout = TimeSpan.FromSeconds(2),
    };

    public void Dispose()
    {
        foreach (var node in Nodes)
        {
            node.Dispose();
        }
    }
}

/// <summary>A logger that keeps every line, so that a test can assert what was logged and show it when it fails.</summary>
internal sealed class RecordingLogger(string name = "") : Microsoft.Extensions.Logging.ILogger
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(
        Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue($"{name}{logLevel}: {formatter(state, exception)}");

    public override string ToString() => string.Join("\n", Lines);
}
