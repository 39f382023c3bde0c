using System.Collections.Concurrent;
using System.Security.Cryptography;
using HiveMind.Memory;

namespace HiveMind.DroneTests;

/// <summary>Several <see cref="Drone"/> instances in this process, joined over loopback as a program's drones would be.</summary>
internal sealed class DroneCluster : ILrcCluster, IDisposable
{
    private readonly Drone[] _drones;

    public DroneCluster(int count, DroneOptions? options = null)
    {
        options ??= new DroneOptions { HeapSize = "1MiB", Quiet = true };
        var key = Key = RandomNumberGenerator.GetBytes(32);
        var registry = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _drones = new Drone[count];
        var errors = new ConcurrentQueue<string>();
        var threads = Enumerable.Range(0, count).Select(id => new Thread(() =>
        {
            try
            {
                var placement = id == 0
                    ? new DronePlacement(0, count) { ClusterKey = key, Listening = endpoint => registry.SetResult(endpoint.ToString()) }
                    : new DronePlacement(id, count) { ClusterKey = key, Registry = registry.Task.Wait(TimeSpan.FromSeconds(30)) ? registry.Task.Result : throw new TimeoutException("drone 0 did not listen within 30 s") };
                _drones[id] = Drone.Join(options, placement);
            }
            catch (Exception error)
            {
                errors.Enqueue($"drone {id}: {error.Message}");
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a drone did not join within 60 s"));
        Assert.True(errors.IsEmpty, string.Join("; ", errors));
        Registry = registry.Task.Result;
    }

    /// <summary>The run's cluster key, for a drone that joins it.</summary>
    public byte[] Key { get; }

    /// <summary>Drone 0's mesh address (host:port), for a drone that joins the run.</summary>
    public string Registry { get; }

    public int Drones => _drones.Length;

    public Drone this[int id] => _drones[id];

    public IDroneView View(int id) => new DroneView(_drones[id]);

    public void Run(Action<int> body, TimeSpan? timeout = null) => DroneThreads.Run(Drones, body, timeout);

    public void Dispose()
    {
        Run(id => _drones[id].Exit());
        foreach (var drone in _drones)
        {
            drone.Dispose();
        }
    }

    private sealed class DroneView(Drone drone) : IDroneView
    {
        public SharedHeap Heap => drone.Heap;

        public void Acquire(int lockId) => drone.LockAcquire(lockId);

        public void Release(int lockId) => drone.LockRelease(lockId);

        public void Barrier(int barrierId) => drone.Barrier(barrierId);
    }
}
