using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using HiveMind.Net.Codec;
using HiveMind.Net.Transport;
using MessagePack;

namespace HiveMind.Benchmarks;

/// <summary>
/// Time to form a mesh of 4 nodes in this process, quiet and with an outsider holding IDLE idle connections (default
/// 300) at every node before they link up; runs in turn, medians of RUNS (default 5). `formation [runs] [idle]`.
/// </summary>
internal static class FormationBench
{
    public static int Run(string[] args)
    {
        var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        var idle = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 300;
        var quiet = new List<double>();
        var attacked = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            quiet.Add(Form(0));
            attacked.Add(Form(idle));
        }

        static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        Console.WriteLine($"| mesh of 4 nodes | quiet (ms) | with {idle} idle outsider connections per node (ms) | ratio |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| median of {runs} | {Median(quiet):F1} | {Median(attacked):F1} | {Median(attacked) / Median(quiet):F2} |"));
        return 0;
    }

    private static double Form(int idle)
    {
        var options = new MeshOptions { ClusterKey = RandomNumberGenerator.GetBytes(32) };
        var nodes = Enumerable.Range(0, 4).Select(i => new MeshNode(i, options, new Quiet())).ToArray();
        var sockets = new List<Socket>();
        try
        {
            foreach (var node in nodes)
            {
                for (var i = 0; i < idle; i++)
                {
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    socket.Connect(node.ListenEndpoint);
                    sockets.Add(socket);
                }
            }

            var clock = Stopwatch.StartNew();
            var threads = nodes.Select(node => new Thread(() => node.FormMesh(4, nodes[0].ListenEndpoint, TimeSpan.FromSeconds(60)))).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            return clock.Elapsed.TotalMilliseconds;
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
            foreach (var node in nodes)
            {
                node.Dispose();
            }
        }
    }

    private sealed class Quiet : IFrameConsumer
    {
        public bool IsKnownKind(byte kind) => false;

        public void OnFrame(MeshNode node, int peer, byte kind, ulong requestId, ref MessagePackReader body) => body.SkipValue();
    }
}
