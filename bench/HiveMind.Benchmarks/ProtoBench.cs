using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CommandLine;

namespace HiveMind.Benchmarks;

/// <summary>
/// Protocol operations timed inside a real run of drones (processes on this machine, linked by the mesh),
/// each against a raw socket round trip between drone 0 and drone 1 in the same run:
/// <list type="bullet">
/// <item><c>miss</c>: a read miss on a page whose only new write is one word on drone 1 (one diff request);</item>
/// <item><c>page</c>: the same after a garbage collection, so the miss fetches the whole page (run with --gc-threshold 1);</item>
/// <item><c>lock</c>: a lock managed by drone 2, last held by drone 1, acquired by drone 0 (forwarded), and a local re-acquire;</item>
/// <item><c>barrier</c>: a barrier with no writes, for the run's number of drones;</item>
/// <item><c>range</c>: a read of <c>--iterations</c> pages that drone 1 rewrote whole (every word), in one range fault,
/// against the raw socket moving the same bytes one way;</item>
/// <item><c>pingpong</c>: a strict lock hand-off in turn among the drones, the read miss of each turn, early turns against
/// the last, and the whole chain's time per hand-off;</item>
/// <item><c>barriers</c>: protocol messages and bytes in and out of the barrier manager per barrier (counts, not times);</item>
/// <item><c>churn</c>: lock and barrier churn for many minutes, each drone's consistency data and resident set sampled.</item>
/// </list>
/// </summary>
internal static class ProtoBench
{
    private const int PingPongLock = 1;
    private const int ChurnPages = 64;
    private const int ChurnLocks = 8;
    private const int ChurnBarrierEvery = 200;
    private const int RangeRounds = 9;

    public static int Run(string[] args)
    {
        var options = Tmk.ParseOptions<ProtoOptions>(args);
        var drone = Tmk.Startup(options);
        var pages = options.Iterations;
        var regionPages = options.Case switch
        {
            "pingpong" => 1, // the hand-offs share one counter page
            "barriers" => drone.Count, // a page each
            "churn" => ChurnPages + 1, // and a page for the stop flag and the drones' round counts
            _ => pages,
        };
        var region = Tmk.Distribute(drone.Id == 0 ? drone.Malloc((regionPages + 1L) * drone.Heap.PageSize, drone.Heap.PageSize) : 0);
        var portSlot = region + ((long)regionPages * drone.Heap.PageSize);
        using var echo = drone.Id == 1 ? new EchoServer() : null;
        if (drone.Id == 1)
        {
            drone.Heap.Write(portSlot, echo!.Port);
        }

        drone.Barrier(0);
        var results = new List<(string Measure, double[] Micros)>();
        var rangeRounds = new double[RangeRounds];
        switch (options.Case)
        {
            case "miss":
            case "page":
                // Drone 1 writes one word on each page; after the barrier drone 0's first read of each page misses.
                if (drone.Id == 1)
                {
                    for (var i = 0; i < pages; i++)
                    {
                        drone.Heap.Write(region + ((long)i * drone.Heap.PageSize) + 64, i + 1);
                    }
                }

                drone.Barrier(1);
                if (drone.Id == 0)
                {
                    var times = new double[pages];
                    ReadPages(drone, region, 0, options.BusyThreads > 0 ? pages / 2 : pages, times);
                    results.Add((options.Case == "miss" ? "read miss, one remote diff of one word" : "read miss, whole page from a holder", times[..(options.BusyThreads > 0 ? pages / 2 : pages)]));
                }

                if (options.BusyThreads > 0)
                {
                    // The same with every drone's process running busy application threads beside the protocol.
                    drone.Barrier(2);
                    using (new BusyThreads(options.BusyThreads))
                    {
                        drone.Barrier(3);
                        if (drone.Id == 0)
                        {
                            var busy = new double[pages - (pages / 2)];
                            ReadPages(drone, region, pages / 2, pages, busy);
                            results.Add(($"the same, {options.BusyThreads} busy application thread(s) in every drone", busy));
                        }

                        drone.Barrier(4);
                    }
                }

                break;
            case "lock":
                const int Lock = 2; // managed by drone 2
                var idle = options.BusyThreads > 0 ? pages / 2 : pages;
                var forwarded = ForwardedAcquires(drone, Lock, idle);
                if (drone.Id == 0)
                {
                    results.Add(("lock acquire forwarded by the manager (drone 0 <- 2 <- 1)", forwarded));
                }

                if (options.BusyThreads > 0)
                {
                    drone.Barrier(5);
                    using (new BusyThreads(options.BusyThreads))
                    {
                        var busy = ForwardedAcquires(drone, Lock, pages - idle);
                        if (drone.Id == 0)
                        {
                            results.Add(($"the same, {options.BusyThreads} busy application thread(s) in every drone", busy));
                        }
                    }
                }

                if (drone.Id == 0)
                {
                    const int Local = 1_000_000;
                    var start = Stopwatch.GetTimestamp();
                    for (var i = 0; i < Local; i++)
                    {
                        drone.LockAcquire(Lock);
                        drone.LockRelease(Lock);
                    }

                    results.Add(("local re-acquire + release (per pair)", [Stopwatch.GetElapsedTime(start).TotalMicroseconds / Local]));
                }

                break;
            case "range":
                rangeRounds = RangeFetches(drone, region, pages, rangeRounds);
                break;
            case "pingpong":
                // A strict lock hand-off in turn among all drones on one counter word (turn t is drone t mod N's), each
                // polling the lock until its turn comes, no collection in between: each turn's read misses on a page that
                // took a write notice at every earlier turn.
                var turns = new double[pages / drone.Count];
                var chain = Stopwatch.StartNew();
                for (var mine = 0; mine < turns.Length;)
                {
                    drone.LockAcquire(PingPongLock);
                    var start = Stopwatch.GetTimestamp();
                    var turn = drone.Heap.Read<int>(region);
                    var elapsed = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                    if (turn % drone.Count == drone.Id)
                    {
                        turns[mine++] = elapsed;
                        drone.Heap.Write(region, turn + 1);
                    }

                    drone.LockRelease(PingPongLock);
                }

                chain.Stop();
                if (drone.Id == 0)
                {
                    // The first window warms up (JIT tiers, pools); the second is the early baseline.
                    var window = Math.Min(1024, turns.Length / 4);
                    var first = turns[window..(2 * window)];
                    var last = turns[^window..];
                    results.Add(($"read miss at a lock hand-off, drone 0's turns {window}..{2 * window}", first));
                    results.Add(($"read miss at a lock hand-off, drone 0's last {window} turns", last));
                    results.Add(($"lock hand-off in turn among {drone.Count} drones, polling (whole chain / hand-offs)", [chain.Elapsed.TotalMicroseconds / (turns.Length * drone.Count)]));
                    Console.WriteLine(
                        $"# last {window} / turns {window}..{2 * window}, median read miss: {Percentile(last, 0.5):F2} / {Percentile(first, 0.5):F2} µs = {Percentile(last, 0.5) / Percentile(first, 0.5):F3} ({pages} hand-offs)");
                    Console.WriteLine($"# {turns.Length * drone.Count} hand-offs among {drone.Count} drones in {chain.Elapsed.TotalMilliseconds:F0} ms");
                }

                break;
            case "barriers":
                // A fixed write pattern per drone (four words of its own page each phase, then a barrier); drone 0, the
                // barrier manager, counts the protocol messages and bytes in and out per barrier.
                drone.Barrier(1);
                var before = drone.ProtocolTraffic();
                for (var phase = 0; phase < pages; phase++)
                {
                    for (var word = 0; word < 4; word++)
                    {
                        drone.Heap.Write(region + ((long)drone.Id * drone.Heap.PageSize) + (64 * word), phase + word);
                    }

                    drone.Barrier(1);
                }

                if (drone.Id == 0)
                {
                    var after = drone.ProtocolTraffic();
                    double PerBarrier(long from, long to) => (double)(to - from) / pages;
                    Console.WriteLine($"# barrier manager traffic per barrier, {drone.Count} drones, {pages} barriers, 4 words of its own page written per drone per barrier");
                    Console.WriteLine("| drones | messages in | bytes in | messages out | bytes out | bytes in / drone | bytes out / drone |");
                    Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
                    Console.WriteLine(
                        $"| {drone.Count} | {PerBarrier(before.MessagesIn, after.MessagesIn):F1} | {PerBarrier(before.BytesIn, after.BytesIn):F0} | {PerBarrier(before.MessagesOut, after.MessagesOut):F1} | {PerBarrier(before.BytesOut, after.BytesOut):F0} | {PerBarrier(before.BytesIn, after.BytesIn) / drone.Count:F1} | {PerBarrier(before.BytesOut, after.BytesOut) / drone.Count:F1} |");
                }

                break;
            case "churn":
                Churn(drone, region, options);
                break;
            case "barrier":
                var barrier = new double[pages];
                for (var i = 0; i < pages; i++)
                {
                    var start = Stopwatch.GetTimestamp();
                    drone.Barrier(1);
                    barrier[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                }

                if (drone.Id == 0)
                {
                    results.Add(($"barrier, {drone.Count} drones, no writes", barrier));
                }

                break;
        }

        if (drone.Id == 0 && options.Case == "range")
        {
            var port = drone.Heap.Read<int>(portSlot);
            var bytes = (long)pages * drone.Heap.PageSize;
            var raw = RawOneWay(port, bytes, RangeRounds);
            Console.WriteLine($"# protocol benchmark 'range', {drone.Count} drones, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}");
            Console.WriteLine("| measure | median | min | raw socket, same bytes one way, same run (median) | ratio (median) |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            var mine = Percentile(rangeRounds, 0.5);
            var theirs = Percentile(raw, 0.5);
            Console.WriteLine($"| read of {pages} pages ({bytes >> 10} KiB) rewritten whole by drone 1, one range fault | {mine / 1000:F2} ms ({bytes / mine:F0} MB/s) | {rangeRounds.Min() / 1000:F2} ms | {theirs / 1000:F2} ms ({bytes / theirs:F0} MB/s) | {mine / theirs:F2} |");
        }

        if (drone.Id == 0 && results.Count > 0)
        {
            var port = drone.Heap.Read<int>(portSlot);
            var raw16 = RawRoundTrips(port, 16, 20_000);
            var raw48 = RawRoundTrips(port, 48, 20_000);
            Console.WriteLine($"# protocol benchmark '{options.Case}', {drone.Count} drones, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}");
            Console.WriteLine("| measure | median | p99 | raw socket round trip, same run | ratio (median) |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            foreach (var (measure, micros) in results)
            {
                var baseline = measure.StartsWith("read miss", StringComparison.Ordinal) ? raw48 : raw16;
                var bytes = ReferenceEquals(baseline, raw48) ? 48 : 16;
                Console.WriteLine($"| {measure} | {Percentile(micros, 0.5):F2} µs | {Percentile(micros, 0.99):F2} µs | {Percentile(baseline, 0.5):F2} µs ({bytes} B) | {Percentile(micros, 0.5) / Percentile(baseline, 0.5):F2} |");
            }
        }

        drone.Barrier(3);
        Tmk.Exit();
        return 0;
    }

    /// <summary>
    /// Lock and barrier churn for <c>--minutes</c>: each round a drone takes one of <see cref="ChurnLocks"/> locks, adds to
    /// words of a page chosen at random, releases it; a barrier every <see cref="ChurnBarrierEvery"/> rounds checks the
    /// sums. Every <c>--sample-seconds</c> each drone appends its consistency data, its resident set and its collections
    /// to <c>--samples</c>/churn-drone{id}.csv, so that a run shows whether they stay bounded and flat.
    /// </summary>
    private static void Churn(Drone drone, long region, ProtoOptions options)
    {
        var random = new Random(drone.Id + 1);
        var path = Path.Combine(options.Samples, $"churn-drone{drone.Id}.csv");
        Directory.CreateDirectory(options.Samples);
        using var samples = new StreamWriter(path) { AutoFlush = true };
        samples.WriteLine("seconds,consistency_bytes,rss_bytes,managed_bytes,collections,rounds");
        var clock = Stopwatch.StartNew();
        var next = TimeSpan.Zero;
        var rounds = 0L;
        var end = TimeSpan.FromMinutes(options.Minutes);
        var control = region + ((long)ChurnPages * drone.Heap.PageSize);
        for (var stop = false; !stop;)
        {
            var page = random.Next(ChurnPages);
            var lockId = page % ChurnLocks;
            drone.LockAcquire(lockId);
            var start = region + ((long)page * drone.Heap.PageSize);
            var word = start + (8 * random.Next(1, drone.Heap.PageSize / 8));
            drone.Heap.Write(word, drone.Heap.Read<long>(word) + 1);
            drone.Heap.Write(start, drone.Heap.Read<long>(start) + 1); // word 0 counts the page's additions
            drone.LockRelease(lockId);
            if (++rounds % ChurnBarrierEvery == 0)
            {
                // Drone 0 decides for everyone whether the time is up, through shared memory, so all stop at one barrier.
                if (drone.Id == 0)
                {
                    drone.Heap.Write(control, clock.Elapsed >= end ? 1L : 0L);
                }

                drone.Barrier(1);
                stop = drone.Heap.Read<long>(control) == 1;
                drone.Barrier(2);
                if (clock.Elapsed >= next || stop)
                {
                    using var self = Process.GetCurrentProcess();
                    samples.WriteLine($"{clock.Elapsed.TotalSeconds:F1},{drone.ConsistencyBytes},{self.WorkingSet64},{GC.GetTotalMemory(false)},{drone.ConsistencyCollections},{rounds}");
                    next += TimeSpan.FromSeconds(options.SampleSeconds);
                }
            }
        }

        // Every addition of every drone is counted in its page's word 0: their sum is every drone's rounds.
        drone.Heap.Write(control + (8L * (1 + drone.Id)), rounds);
        drone.Barrier(3);
        if (drone.Id == 0)
        {
            long counted = 0, made = 0;
            for (var page = 0; page < ChurnPages; page++)
            {
                counted += drone.Heap.Read<long>(region + ((long)page * drone.Heap.PageSize));
            }

            for (var id = 0; id < drone.Count; id++)
            {
                made += drone.Heap.Read<long>(control + (8L * (1 + id)));
            }

            if (counted != made)
            {
                throw new InvalidOperationException($"churn: the pages count {counted} additions, the drones made {made}");
            }

            Console.WriteLine($"# churn: {drone.Count} drones, {clock.Elapsed.TotalMinutes:F1} min, {made} additions by all drones, every one counted; samples in {options.Samples}");
        }
    }

    /// <summary>Drone 0 reads one word of pages [from, to) of the region, each a miss, timing each into <paramref name="times"/>.</summary>
    private static void ReadPages(Drone drone, long region, int from, int to, double[] times)
    {
        for (var i = from; i < to; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var value = drone.Heap.Read<int>(region + ((long)i * drone.Heap.PageSize) + 64);
            times[i - from] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            if (value != i + 1)
            {
                throw new InvalidOperationException($"page {i}: read {value}, expected {i + 1}");
            }
        }
    }

    /// <summary>Drone 1 takes and gives back the lock, then drone 0 acquires it (forwarded by its manager), timed, <paramref name="count"/> times.</summary>
    private static double[] ForwardedAcquires(Drone drone, int lockId, int count)
    {
        var forwarded = new double[count];
        for (var i = 0; i < count; i++)
        {
            if (drone.Id == 1)
            {
                drone.LockAcquire(lockId);
                drone.LockRelease(lockId);
            }

            drone.Barrier(1);
            if (drone.Id == 0)
            {
                var start = Stopwatch.GetTimestamp();
                drone.LockAcquire(lockId);
                forwarded[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                drone.LockRelease(lockId);
            }

            drone.Barrier(2);
        }

        return forwarded;
    }

    /// <summary>
    /// <see cref="RangeRounds"/> rounds (after one untimed): drone 1 rewrites every word of <paramref name="pages"/> pages,
    /// then drone 0 reads them all through one span, which takes one range fault; returns drone 0's times in µs.
    /// </summary>
    private static double[] RangeFetches(Drone drone, long region, int pages, double[] times)
    {
        var words = pages * drone.Heap.PageSize / sizeof(long);
        var pause = GC.GetTotalPauseDuration();
        var (gen0, gen1, gen2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        var xs = drone.Array<long>(region, words);
        for (var round = -1; round < RangeRounds; round++)
        {
            if (drone.Id == 1)
            {
                var span = (Span<long>)xs.AsSpan();
                for (var i = 0; i < span.Length; i++)
                {
                    span[i] = Word(round, i);
                }
            }

            drone.Barrier(10 + (2 * (round + 1)));
            if (drone.Id == 0)
            {
                var start = Stopwatch.GetTimestamp();
                var span = xs.AsReadOnlySpan();
                var elapsed = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                if (span[words - 1] != Word(round, words - 1))
                {
                    throw new InvalidOperationException($"range round {round}: the last word reads {span[words - 1]}, expected {Word(round, words - 1)}");
                }

                if (round >= 0)
                {
                    times[round] = elapsed;
                }
            }

            drone.Barrier(11 + (2 * (round + 1)));
        }

        Console.Error.WriteLine($"range: drone {drone.Id} GC pauses {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds:F1} ms, collections gen0 {GC.CollectionCount(0) - gen0}, gen1 {GC.CollectionCount(1) - gen1}, gen2 {GC.CollectionCount(2) - gen2}");

        return times;

        // Every 4-byte word differs from the round before, so each page's diff is one run: the page's bytes, as a
        // partition that moves most elements writes them.
        static long Word(int round, int i) => unchecked(((round + 2) * -7046029254386353131L) ^ (i * 0x0001_0001_0001_0001L));
    }

    /// <summary>Times <paramref name="count"/> one-way transfers of <paramref name="bytes"/> from drone 1's raw server (after one untimed), in µs.</summary>
    private static double[] RawOneWay(int port, long bytes, int count)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        var ask = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(ask, -checked((int)bytes));
        var buffer = new byte[1 << 20];
        var times = new double[count];
        for (var i = -1; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            socket.Send(ask);
            for (long read = 0; read < bytes;)
            {
                read += socket.Receive(buffer.AsSpan(0, (int)Math.Min(buffer.Length, bytes - read)));
            }

            if (i >= 0)
            {
                times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }

        return times;
    }

    private static double[] RawRoundTrips(int port, int size, int count)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        var buffer = new byte[size];
        BinaryPrimitives.WriteInt32LittleEndian(buffer, size);
        var times = new double[count];
        for (var i = -count / 10; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            socket.Send(buffer);
            for (var read = 0; read < size;)
            {
                read += socket.Receive(buffer.AsSpan(read));
            }

            if (i >= 0)
            {
                times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }

        return times;
    }

    private static double Percentile(double[] values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[(int)Math.Round(p * (sorted.Length - 1))];
    }

    /// <summary>Options of the protocol benchmark, on top of every drone's.</summary>
    private sealed class ProtoOptions : DroneOptions
    {
        [Option("case", Required = true, HelpText = "miss, page, lock, barrier, range, pingpong, barriers or churn.")]
        public string Case { get; set; } = string.Empty;

        [Option("iterations", Default = 2000, HelpText = "Misses, forwarded acquires, barriers or lock hand-offs to time; range: the pages read in one fault.")]
        public int Iterations { get; set; } = 2000;

        [Option("busy-threads", Default = 0, HelpText = "miss, page and lock: time half the operations again with this many busy application threads in every drone.")]
        public int BusyThreads { get; set; }

        [Option("network-nice", Default = -10, HelpText = "The nice value of the mesh's threads (0: the process's).")]
        public int NetworkNice { get; set; } = -10;

        [Option("minutes", Default = 30.0, HelpText = "How long the churn case runs.")]
        public double Minutes { get; set; } = 30;

        [Option("sample-seconds", Default = 10.0, HelpText = "How often the churn case samples each drone.")]
        public double SampleSeconds { get; set; } = 10;

        [Option("samples", Default = "bench/churn", HelpText = "Folder for the churn case's per-drone samples.")]
        public string Samples { get; set; } = "bench/churn";

        public override void Validate()
        {
            NetworkThreadNice = NetworkNice;
            if (Case is not ("miss" or "page" or "lock" or "barrier" or "range" or "pingpong" or "barriers" or "churn"))
            {
                throw new OptionsException($"--case: '{Case}' is not one of miss, page, lock, barrier, range, pingpong, barriers, churn.");
            }

            if (Case == "lock" && Drones < 3)
            {
                throw new OptionsException("--case lock needs --drones 3 or more (requester, holder and manager apart).");
            }

            if (Case == "pingpong" && Iterations < 8 * Drones)
            {
                throw new OptionsException("--iterations: the pingpong case needs at least 8 hand-offs a drone (a warm-up window and two measured ones).");
            }

            if (Drones < 2)
            {
                throw new OptionsException("--drones: the protocol benchmark needs at least 2 drones.");
            }

            base.Validate();
        }
    }

    /// <summary>Application threads that spin until disposed: a drone whose cores are all busy with its program.</summary>
    private sealed class BusyThreads : IDisposable
    {
        private readonly Thread[] _threads;
        private volatile bool _stop;

        public BusyThreads(int count)
        {
            _threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
            {
                var x = 0UL;
                while (!_stop)
                {
                    x = (x * 6364136223846793005UL) + 1442695040888963407UL;
                }

                GC.KeepAlive(x);
            })
            { IsBackground = true, Name = $"busy {i}" }).ToArray();
            Array.ForEach(_threads, t => t.Start());
        }

        public void Dispose()
        {
            _stop = true;
            Array.ForEach(_threads, t => t.Join());
        }
    }

    /// <summary>Drone 1's raw echo server: reads a 4-byte size, then echoes messages of that size.</summary>
    private sealed class EchoServer : IDisposable
    {
        private readonly Socket _listener = new(SocketType.Stream, ProtocolType.Tcp);
        private readonly Thread _thread;

        public EchoServer()
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(4);
            Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
            _thread = new Thread(Serve) { IsBackground = true };
            _thread.Start();
        }

        public int Port { get; }

        public void Dispose() => _listener.Dispose();

        private void Serve()
        {
            try
            {
                while (true)
                {
                    using var socket = _listener.Accept();
                    socket.NoDelay = true;
                    var buffer = new byte[4096];
                    while (true)
                    {
                        var read = 0;
                        var first = socket.Receive(buffer.AsSpan(0, 4));
                        if (first == 0)
                        {
                            break;
                        }

                        while (first < 4)
                        {
                            first += socket.Receive(buffer.AsSpan(first, 4 - first));
                        }

                        var size = BinaryPrimitives.ReadInt32LittleEndian(buffer);
                        if (size < 0)
                        {
                            // A one-way transfer: send -size bytes (what a range fault's replies carry).
                            var block = new byte[1 << 20];
                            for (long sent = 0; sent < -(long)size;)
                            {
                                sent += socket.Send(block.AsSpan(0, (int)Math.Min(block.Length, -(long)size - sent)));
                            }

                            continue;
                        }

                        read = 4;
                        while (read < size)
                        {
                            read += socket.Receive(buffer.AsSpan(read, size - read));
                        }

                        socket.Send(buffer.AsSpan(0, size));
                    }
                }
            }
            catch (SocketException)
            {
                // The listener closed at the end of the run.
            }
            catch (ObjectDisposedException)
            {
                // The listener closed at the end of the run.
            }
        }
    }
}
