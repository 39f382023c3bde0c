using System.Net;
using HiveMind.Net.Codec;
using HiveMind.Net.Transport;
using MessagePack;

// Usage: TestNode <id> <drones> [registry host:port]; the cluster key comes base64-encoded in
// HIVEMIND_CLUSTER_KEY, never on the command line. Prints one line per event for the test to wait on:
//   listening <endpoint> | mesh formed | in order from <peer> | failed <peer>: <reason> | silent <peer>: <ms> |
//   log <warning or error the node logged>
// Sends <count> numbered frames to every peer once the mesh is formed; "disconnect <peer>" on stdin disconnects that
// peer (as a view that removes it would); exits when stdin closes or says "exit".
var id = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
var drones = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
var registry = args.Length > 2 ? IPEndPoint.Parse(args[2]) : null;
const int Count = 2000;
var key = Convert.FromBase64String(Environment.GetEnvironmentVariable("HIVEMIND_CLUSTER_KEY")
    ?? throw new InvalidOperationException("HIVEMIND_CLUSTER_KEY is not set"));
var options = new MeshOptions
{
    ClusterKey = key,
    HeartbeatInterval = TimeSpan.FromMilliseconds(100),
    FailureTimeout = TimeSpan.FromMilliseconds(1500),
};

var consumer = new OrderChecker(drones, Count);
using var node = new MeshNode(id, options, consumer, new LineLogger());
node.PeerFailed += (peer, reason) => Console.WriteLine($"failed {peer}: {reason}");
node.PeerSilent += (peer, silentMs) => Console.WriteLine($"silent {peer}: {silentMs} ms");
Console.WriteLine($"listening {node.ListenEndpoint}");
node.FormMesh(drones, registry ?? node.ListenEndpoint, TimeSpan.FromSeconds(60));
Console.WriteLine("mesh formed");
for (var peer = 0; peer < drones; peer++)
{
    if (peer == id)
    {
        continue;
    }

    for (long i = 0; i < Count; i++)
    {
        node.Send(peer, OrderChecker.Kind, i, static (ref MessagePackWriter w, long v) => w.Write(v));
    }
}

while (Console.ReadLine() is { } line && line != "exit")
{
    if (line.StartsWith("disconnect ", StringComparison.Ordinal))
    {
        node.Disconnect(int.Parse(line["disconnect ".Length..], System.Globalization.CultureInfo.InvariantCulture), "told to on stdin");
        Console.WriteLine($"disconnected {line["disconnect ".Length..]}");
    }
}

/// <summary>Checks that the numbered frames of every peer arrive complete and in order.</summary>
internal sealed class OrderChecker(int drones, int count) : IFrameConsumer
{
    public const byte Kind = MessageKind.FirstApplicationKind;

    private readonly long[] _next = new long[drones];

    public bool IsKnownKind(byte kind) => kind == Kind;

    public void OnFrame(MeshNode node, int peer, byte kind, ulong requestId, ref MessagePackReader body)
    {
        var value = body.ReadInt64();
        if (value != _next[peer])
        {
            Console.WriteLine($"out of order from {peer}: got {value}, expected {_next[peer]}");
        }

        _next[peer] = value + 1;
        if (_next[peer] == count)
        {
            Console.WriteLine($"in order from {peer}");
        }
    }
}

/// <summary>Prints the node's warnings and errors as "log" lines.</summary>
internal sealed class LineLogger : Microsoft.Extensions.Logging.ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Warning;

    public void Log<TState>(
        Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Console.WriteLine($"log {formatter(state, exception)}");
        }
    }
}
