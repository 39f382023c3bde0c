using System.Buffers.Binary;
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
/// The mesh between two processes against a raw socket between the same two processes, in one run:
/// request/response round trips (median and p99) for a 16-byte and a 4 KiB body, and one-way streaming of
/// 4 KiB messages. The raw baseline moves exactly the bytes of the mesh frame (prefix and envelope included)
/// with blocking Send/Receive and TCP_NODELAY.
/// </summary>
internal static class NetBench
{
    private const byte Echo = MessageKind.FirstApplicationKind;
    private const byte Sink = MessageKind.FirstApplicationKind + 1;
    private const string KeyVariable = "HIVEMIND_CLUSTER_KEY";
    private const int Block = 1000;

    public static int Run(string[] args)
    {
        var roundTrips = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20_000;
        var streamMessages = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200_000;
        var key = RandomNumberGenerator.GetBytes(32);
        using var node = new MeshNode(0, Options(key), new Server());
        using var child = StartChild(node.ListenEndpoint, key);
        var rawPort = int.Parse(ReadLine(child, "raw "), CultureInfo.InvariantCulture);
        node.FormMesh(2, null, TimeSpan.FromSeconds(30));
        using var raw = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        raw.Connect(new IPEndPoint(IPAddress.Loopback, rawPort));

        Console.WriteLine($"# mesh ({Options([]).Protection} frames) vs raw socket, two processes on loopback, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}");
        Console.WriteLine();
        Console.WriteLine("| measure | raw socket | mesh | ratio (mesh / raw) |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var body in new[] { 16, 4096 })
        {
            var payload = new byte[body];
            var frameBytes = FrameBytes(payload);
            // Raw and mesh alternate in blocks, so that both see the same noise of a shared machine.
            var rawTimes = new List<double>(roundTrips);
            var meshTimes = new List<double>(roundTrips);
            for (var block = 0; block < roundTrips / Block; block++)
            {
                rawTimes.AddRange(RawPingPong(raw, frameBytes, Block));
                meshTimes.AddRange(MeshRoundTrips(node, payload, Block));
            }

            Row($"round trip, {body} B body ({frameBytes} B frame), median", Median(rawTimes), Median(meshTimes), "µs");
            Row($"round trip, {body} B body ({frameBytes} B frame), p99", Percentile(rawTimes, 0.99), Percentile(meshTimes, 0.99), "µs");
        }

        var message = new byte[4096];
        var messageBytes = FrameBytes(message);
        var rawRate = RawStream(raw, messageBytes, streamMessages);
        var meshRate = MeshStream(node, message, messageBytes, streamMessages);
        Console.WriteLine($"| one-way 4 KiB messages ({messageBytes} B frames), {streamMessages} | {rawRate:F0} MB/s | {meshRate:F0} MB/s | {meshRate / rawRate:F2} |");

        raw.Send(Command(0, 0, 0));
        child.StandardInput.Close();
        child.WaitForExit(10_000);
        return 0;
    }

    /// <summary>The child: a raw echo/sink server and mesh node 1 that echoes requests and counts sink frames.</summary>
    public static int Serve(string registry)
    {
        var key = Convert.FromBase64String(Environment.GetEnvironmentVariable(KeyVariable)!);
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        Console.WriteLine($"raw {((IPEndPoint)listener.LocalEndPoint!).Port}");
        using var node = new MeshNode(1, Options(key), new Server());
        node.FormMesh(2, IPEndPoint.Parse(registry), TimeSpan.FromSeconds(30));
        using var socket = listener.Accept();
        socket.NoDelay = true;
        var buffer = new byte[1 << 20];
        var header = new byte[12];
        while (true)
        {
            ReadExactly(socket, header);
            var mode = BinaryPrimitives.ReadInt32LittleEndian(header);
            var size = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4));
            var count = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
            switch (mode)
            {
                case 0:
                    return 0;
                case 1: // ping-pong
                    for (var i = 0; i < count; i++)
                    {
                        ReadExactly(socket, buffer.AsSpan(0, size));
                        SendAll(socket, buffer.AsSpan(0, size));
                    }

                    break;
                default: // sink, then a one-byte ack
                    long left = (long)size * count;
                    while (left > 0)
                    {
                        left -= socket.Receive(buffer.AsSpan(0, (int)Math.Min(buffer.Length, left)));
                    }

                    SendAll(socket, buffer.AsSpan(0, 1));
                    break;
            }
        }
    }

    private static double[] RawPingPong(Socket socket, int size, int count)
    {
        var buffer = new byte[size];
        var times = new double[count];
        socket.Send(Command(1, size, count + (count / 10)));
        for (var i = -count / 10; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            SendAll(socket, buffer);
            ReadExactly(socket, buffer);
            if (i >= 0)
            {
                times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }

        return times;
    }

    private static double[] MeshRoundTrips(MeshNode node, byte[] payload, int count)
    {
        var times = new double[count];
        for (var i = -count / 10; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            node.Request(1, Echo, payload, static (ref MessagePackWriter w, byte[] p) => w.Write(p), TimeSpan.FromSeconds(10));
            if (i >= 0)
            {
                times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }

        return times;
    }

    private static double RawStream(Socket socket, int size, int count)
    {
        var buffer = new byte[size];
        socket.Send(Command(2, size, count));
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            SendAll(socket, buffer);
        }

        ReadExactly(socket, buffer.AsSpan(0, 1));
        return (double)size * count / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e6;
    }

    private static double MeshStream(MeshNode node, byte[] payload, int frameBytes, int count)
    {
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            node.Send(1, Sink, payload, static (ref MessagePackWriter w, byte[] p) => w.Write(p));
        }

        // Frames arrive in order per link, so the reply to this request comes after every sink frame.
        node.Request(1, Echo, Array.Empty<byte>(), static (ref MessagePackWriter w, byte[] p) => w.Write(p), TimeSpan.FromSeconds(60));
        return (double)frameBytes * count / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e6;
    }

    private static int FrameBytes(byte[] payload)
    {
        var frame = FrameBuffer.Rent(payload.Length + 32);
        var writer = new MessagePackWriter(frame);
        writer.WriteArrayHeader(3);
        writer.Write(Echo);
        writer.Write(1UL << 20); // a request id as large as a long run reaches
        writer.Write(payload);
        writer.Flush();
        var length = frame.Length;
        frame.Return();
        return length;
    }

    // HIVEMIND_BENCH_PROTECTION=clear measures the mesh without frame protection (the child inherits it): the cost of sealing.
    private static MeshOptions Options(byte[] key) => new()
    {
        ClusterKey = key,
        FailureTimeout = TimeSpan.FromSeconds(30),
        Protection = Environment.GetEnvironmentVariable("HIVEMIND_BENCH_PROTECTION") == "clear" ? FrameProtection.Clear : FrameProtection.Sealed,
    };

    private static Process StartChild(IPEndPoint registry, byte[] key)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            start.ArgumentList.Add(typeof(NetBench).Assembly.Location);
        }

        start.ArgumentList.Add("--net-server");
        start.ArgumentList.Add(registry.ToString());
        start.Environment[KeyVariable] = Convert.ToBase64String(key);
        return Process.Start(start) ?? throw new InvalidOperationException("could not start the server process");
    }

    private static string ReadLine(Process child, string prefix)
    {
        var line = child.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the server process ended before it was ready");
        return line.StartsWith(prefix, StringComparison.Ordinal) ? line[prefix.Length..] : throw new InvalidOperationException($"unexpected line from the server: {line}");
    }

    private static byte[] Command(int mode, int size, int count)
    {
        var command = new byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(command, mode);
        BinaryPrimitives.WriteInt32LittleEndian(command.AsSpan(4), size);
        BinaryPrimitives.WriteInt32LittleEndian(command.AsSpan(8), count);
        return command;
    }

    private static void Row(string what, double raw, double mesh, string unit) =>
        Console.WriteLine($"| {what} | {raw:F1} {unit} | {mesh:F1} {unit} | {mesh / raw:F2} |");

    private static double Median(List<double> values) => Percentile(values, 0.5);

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[(int)Math.Min(sorted.Length - 1, Math.Round(p * (sorted.Length - 1)))];
    }

    private static void ReadExactly(Socket socket, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var n = socket.Receive(buffer);
            if (n == 0)
            {
                throw new EndOfStreamException("the peer closed the benchmark connection");
            }

            buffer = buffer[n..];
        }
    }

    private static void SendAll(Socket socket, ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            bytes = bytes[socket.Send(bytes)..];
        }
    }

    /// <summary>Echoes requests; counts nothing else (sink frames are skipped).</summary>
    private sealed class Server : IFrameConsumer
    {
        public bool IsKnownKind(byte kind) => kind is Echo or Sink;

        public void OnFrame(MeshNode node, int peer, byte kind, ulong requestId, ref MessagePackReader body)
        {
            var payload = body.ReadBinary();
            if (kind == Echo)
            {
                node.Reply(peer, requestId, payload.ToArray(), static (ref MessagePackWriter w, byte[] p) => w.Write(p));
            }
        }
    }
}
