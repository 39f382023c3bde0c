using System.Collections.Concurrent;
using HiveMind.Consistency;
using HiveMind.Memory;

namespace HiveMind.Core.Tests.Consistency;

/// <summary>
/// N drones in this process, each with its own heap and engine, talking through in-memory queues: every
/// drone has a network thread that handles its incoming messages in arrival order, like a mesh receive thread.
/// </summary>
internal sealed class InMemoryCluster : ILrcCluster, IDisposable
{
    private readonly Network[] _networks;
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly bool[] _frozen;

    /// <summary>
    /// <paramref name="drones"/> slots; the first <paramref name="started"/> (all by default) form the run, the others
    /// are newcomers that join it (<see cref="LrcEngine.JoinRun"/>).
    /// </summary>
    public InMemoryCluster(int drones, HeapOptions? heap = null, long collectionThreshold = LrcEngine.DefaultCollectionThreshold, int? started = null)
    {
        var live = started ?? drones;
        var options = heap ?? new HeapOptions { PageSize = 4096, HeapSize = 4096 * 64 };
        Heaps = Enumerable.Range(0, drones).Select(_ => new SharedHeap(options)).ToArray();
        _frozen = new bool[drones];
        _networks = Enumerable.Range(0, drones).Select(i => new Network(this, i)).ToArray();
        Engines = Enumerable.Range(0, drones).Select(i => new LrcEngine(i, drones, Heaps[i], _networks[i], TimeSpan.FromSeconds(60), collectionThreshold, i < live ? live : 0)).ToArray();
        foreach (var network in _networks)
        {
            network.Start();
        }
    }

    public SharedHeap[] Heaps { get; }

    public int Drones => Engines.Length;

    public IDroneView View(int id) => new EngineView(Engines[id], Heaps[id]);

    public LrcEngine[] Engines { get; }

    /// <summary>Messages delivered, by receiving drone and message type.</summary>
    public ConcurrentDictionary<(int Drone, string Type), long> Delivered { get; } = new();

    /// <summary>Sizes of the request batches each drone sent, in order.</summary>
    public ConcurrentQueue<(int Drone, int Requests)> Batches { get; } = new();

    /// <summary>Messages delivered, all drones.</summary>
    public long Messages => _networks.Sum(n => Interlocked.Read(ref n.Delivered));

    /// <summary>
    /// Drone <paramref name="drone"/> stops as a hung or killed process would: whatever is sent to it is lost, it
    /// answers no request (those waiting on it fail as over a broken link) and sends nothing more.
    /// </summary>
    public void Freeze(int drone) => Volatile.Write(ref _frozen[drone], true);

    /// <summary>Freezes <paramref name="drone"/> and has every other drone report it, as their links' failure detectors would.</summary>
    public void Fail(int drone)
    {
        Freeze(drone);
        foreach (var engine in Engines.Where(e => e.Self != drone))
        {
            engine.Suspect(drone, "failed in the test");
        }
    }

    /// <summary>Called with (from, to, message) for every message one drone sends another, on the sender's thread.</summary>
    public Action<int, int, ProtocolMessage>? Observe { get; set; }

    /// <summary>
    /// How long a message (from, to, message) is held back before it reaches its receiver's inbox (zero: not at all), as a
    /// slow network or a descheduled thread would hold it. A message held back may be overtaken by later ones on its path:
    /// hold back only messages nothing follows on that path before they are handled.
    /// </summary>
    public Func<int, int, ProtocolMessage, TimeSpan>? Delay { get; set; }

    /// <summary>
    /// Called with (server, asker, reply) for every reply a drone's engine makes, on the server's network thread: the asker
    /// gets what it returns instead (a reply forged by a test).
    /// </summary>
    public Func<int, int, ProtocolMessage, ProtocolMessage>? ForgeReply { get; set; }

    /// <summary>Messages of each type each drone has handled (its engine returned), counted after handling.</summary>
    public ConcurrentDictionary<(int Drone, string Type), long> Handled { get; } = new();

    /// <summary>Waits until <paramref name="drone"/> has handled <paramref name="count"/> messages of type <typeparamref name="T"/>.</summary>
    public void WaitHandled<T>(int drone, long count, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        lock (_handledGate)
        {
            var until = DateTime.UtcNow + limit;
            while (Handled.GetValueOrDefault((drone, typeof(T).Name)) < count)
            {
                var left = until - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    Assert.Fail($"drone {drone} handled {Handled.GetValueOrDefault((drone, typeof(T).Name))} {typeof(T).Name}(s) within {limit.TotalSeconds} s, not {count}");
                }

                Monitor.Wait(_handledGate, left);
            }
        }
    }

    private readonly object _handledGate = new();

    /// <summary>Messages sent to <paramref name="drone"/> of type <typeparamref name="T"/> so far (frozen or not).</summary>
    public long SentTo<T>(int drone) => Sent.GetValueOrDefault((drone, typeof(T).Name));

    private ConcurrentDictionary<(int Drone, string Type), long> Sent { get; } = new();

    private bool IsFrozen(int drone) => Volatile.Read(ref _frozen[drone]);

    /// <summary>Runs <paramref name="body"/> as the application thread of every drone and waits for all; rethrows the first failure.</summary>
    public void Run(Action<int> body, TimeSpan? timeout = null)
    {
        DroneThreads.Run(Engines.Length, body, timeout, () => $"network errors: {string.Join("; ", _errors)}");
        Assert.True(_errors.IsEmpty, $"network thread errors: {string.Join("; ", _errors)}");
    }

    public void Dispose()
    {
        foreach (var network in _networks)
        {
            network.Stop();
        }

        foreach (var heap in Heaps)
        {
            heap.Dispose();
        }
    }

    private sealed class Network(InMemoryCluster cluster, int self) : IDroneNetwork
    {
        private readonly BlockingCollection<(int From, ProtocolMessage Message, TaskCompletionSource<ProtocolMessage>? Reply)> _inbox = new();
        private Thread? _thread;
        public long Delivered;

        public void Start()
        {
            _thread = new Thread(Loop) { IsBackground = true, Name = $"drone {self} network" };
            _thread.Start();
        }

        public void Stop()
        {
            _inbox.CompleteAdding();
            _thread?.Join(TimeSpan.FromSeconds(10));
        }

        public void Send(int drone, ProtocolMessage message)
        {
            if (cluster.IsFrozen(self))
            {
                return;
            }

            cluster.Sent.AddOrUpdate((drone, message.GetType().Name), 1, (_, n) => n + 1);
            cluster.Observe?.Invoke(self, drone, message);
            if (cluster.IsFrozen(drone) && drone != self)
            {
                throw new DroneUnreachableException($"drone {drone} is gone") { Drone = drone };
            }

            if (cluster.Delay?.Invoke(self, drone, message) is { } delay && delay > TimeSpan.Zero)
            {
                var inbox = cluster._networks[drone]._inbox;
                _ = Task.Delay(delay).ContinueWith(_ => inbox.Add((self, message, null)), TaskScheduler.Default);
                return;
            }

            cluster._networks[drone]._inbox.Add((self, message, null));
        }

        public IReadOnlyList<ProtocolMessage> RequestAll(IReadOnlyList<(int Drone, ProtocolMessage Request)> requests)
        {
            cluster.Batches.Enqueue((self, requests.Count));
            var replies = requests.Select(r =>
            {
                var reply = new TaskCompletionSource<ProtocolMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
                cluster._networks[r.Drone]._inbox.Add((self, r.Request, reply));
                if (cluster.IsFrozen(r.Drone))
                {
                    reply.TrySetException(new DroneUnreachableException($"drone {r.Drone} is gone") { Drone = r.Drone });
                }

                return reply.Task;
            }).ToArray();
            try
            {
                if (!Task.WaitAll(replies, TimeSpan.FromSeconds(60)))
                {
                    throw new TimeoutException($"drone {self}: no reply within 60 s to {string.Join(", ", requests.Select(r => $"{r.Request.GetType().Name} to drone {r.Drone}"))}");
                }
            }
            catch (AggregateException error) when (error.InnerExceptions.OfType<DroneUnreachableException>().FirstOrDefault() is { } unreachable)
            {
                throw unreachable;
            }

            return replies.Select(t => t.Result).ToList();
        }

        private void Requeue(int from, ProtocolMessage message, TaskCompletionSource<ProtocolMessage> reply)
        {
            try
            {
                _inbox.Add((from, message, reply));
            }
            catch (InvalidOperationException)
            {
                reply.TrySetException(new DroneUnreachableException($"drone {self} stopped") { Drone = self });
            }
        }

        private void Loop()
        {
            foreach (var (from, message, reply) in _inbox.GetConsumingEnumerable())
            {
                if (cluster.IsFrozen(self))
                {
                    // A hung drone handles nothing; a request waiting on it fails as over a broken link.
                    reply?.TrySetException(new DroneUnreachableException($"drone {self} is gone") { Drone = self });
                    continue;
                }

                Interlocked.Increment(ref Delivered);
                cluster.Delivered.AddOrUpdate((self, message.GetType().Name), 1, (_, n) => n + 1);
                try
                {
                    if (reply is null)
                    {
                        cluster.Engines[self].Handle(from, message);
                    }
                    else if (cluster.Engines[self].Serve(from, message, () => Requeue(from, message, reply)) is { } answer)
                    {
                        reply.SetResult(cluster.ForgeReply?.Invoke(self, from, answer) ?? answer);
                    }

                    // else: the engine serves it again (back through this inbox) once its asker is admitted here.
                }
                catch (Exception error)
                {
                    cluster._errors.Enqueue($"drone {self} handling {message.GetType().Name} from drone {from}: {error.Message}");
                    reply?.TrySetException(error);
                }

                cluster.Handled.AddOrUpdate((self, message.GetType().Name), 1, (_, n) => n + 1);
                lock (cluster._handledGate)
                {
                    Monitor.PulseAll(cluster._handledGate);
                }
            }
        }
    }
}
