using System.Diagnostics;
using HiveMind.Allocation;
using HiveMind.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HiveMind;

/// <summary>
/// One drone: its copy of the shared heap, the allocator, locks and barriers, and its statistics.
/// This build runs the single-drone configuration: the drone's copy of every page is the truth, and
/// synchronization operations close intervals (dirty pages back to ReadOnly, twins kept) exactly where a
/// multi-drone run will exchange write notices.
/// </summary>
/// <remarks>Instance-based so that tests can hold several; the static <see cref="Tmk"/> façade holds one per process.</remarks>
public sealed partial class Drone : IDisposable
{
    private readonly LocalFaultHandler _faults = new();
    private readonly bool[] _held;
    private readonly int _barriers;
    private readonly ILogger _logger;
    private readonly long _started = Stopwatch.GetTimestamp();
    private bool _exited;

    private Drone(DroneOptions options, ILoggerFactory loggers)
    {
        Options = options;
        Heap = new SharedHeap(options.ToHeapOptions(), _faults);
        Allocator = new SharedAllocator(0, Heap.Size);
        _held = new bool[options.Locks];
        _barriers = options.Barriers;
        _logger = loggers.CreateLogger("HiveMind.Drone");
    }

    /// <summary>This drone's id, 0 .. <see cref="Count"/> - 1 (Tmk_proc_id).</summary>
    public int Id => 0;

    /// <summary>Number of drones in the run (Tmk_nprocs).</summary>
    public int Count => 1;

    /// <summary>The options the drone runs with.</summary>
    public DroneOptions Options { get; }

    /// <summary>This drone's copy of the shared heap.</summary>
    public SharedHeap Heap { get; }

    /// <summary>The allocator of the shared heap.</summary>
    public SharedAllocator Allocator { get; }

    /// <summary>What this drone did so far.</summary>
    public DroneStatistics Statistics { get; } = new();

    /// <summary>Wall time since the drone started.</summary>
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_started);

    /// <summary>Starts a drone with validated <paramref name="options"/>.</summary>
    public static Drone Start(DroneOptions options, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var drone = new Drone(options, loggers ?? NullLoggerFactory.Instance);
        LogStarted(drone._logger, drone.Id, drone.Count, drone.Heap.Size, drone.Heap.PageSize);
        return drone;
    }

    /// <summary>Allocates shared memory; returns its global address.</summary>
    public long Malloc(long bytes, int alignment = SharedAllocator.Granule)
    {
        CheckRunning();
        var address = Allocator.Malloc(bytes, alignment);
        Statistics.Mallocs++;
        return address;
    }

    /// <summary>Frees shared memory allocated by <see cref="Malloc"/>.</summary>
    public void Free(long address)
    {
        CheckRunning();
        Allocator.Free(address);
    }

    /// <summary>Every drone gets drone 0's <paramref name="value"/> (Tmk_distribute).</summary>
    public long Distribute(long value)
    {
        CheckRunning();
        return value;
    }

    /// <summary>A typed view of shared memory.</summary>
    public SharedArray<T> Array<T>(long address, int count)
        where T : unmanaged => new(Heap, address, count);

    /// <summary>Acquires lock <paramref name="lockId"/>. Locks are not reentrant.</summary>
    public void LockAcquire(int lockId)
    {
        CheckRunning();
        CheckLock(lockId);
        if (_held[lockId])
        {
            throw new InvalidOperationException(
                $"Drone {Id} acquires lock {lockId}, which it already holds: locks are not reentrant.");
        }

        var start = Stopwatch.GetTimestamp();
        CloseInterval();
        _held[lockId] = true;
        Statistics.LockAcquiresLocal++;
        Statistics.LockWaitTicks += Stopwatch.GetTimestamp() - start;
    }

    /// <summary>Releases lock <paramref name="lockId"/>, which this drone must hold.</summary>
    public void LockRelease(int lockId)
    {
        CheckRunning();
        CheckLock(lockId);
        if (!_held[lockId])
        {
            throw new InvalidOperationException($"Drone {Id} releases lock {lockId}, which it does not hold.");
        }

        CloseInterval();
        _held[lockId] = false;
    }

    /// <summary>Waits until every drone reaches barrier <paramref name="barrierId"/>.</summary>
    public void Barrier(int barrierId)
    {
        CheckRunning();
        if ((uint)barrierId >= (uint)_barriers)
        {
            throw new ArgumentOutOfRangeException(
                nameof(barrierId), barrierId, $"Drone {Id}: barrier ids are 0 .. {_barriers - 1}.");
        }

        var start = Stopwatch.GetTimestamp();
        CloseInterval();
        Statistics.Barriers++;
        Statistics.BarrierWaitTicks += Stopwatch.GetTimestamp() - start;
    }

    /// <summary>Ends the drone's part in the run; returns the final statistics. Idempotent.</summary>
    public DroneStatistics Exit()
    {
        if (!_exited)
        {
            CloseInterval();
            SyncFaultCounters();
            _exited = true;
            LogExited(_logger, Id, Elapsed.TotalMilliseconds);
        }

        return Statistics;
    }

    public void Dispose()
    {
        Exit();
        Heap.Dispose();
    }

    private void CloseInterval()
    {
        _faults.CloseInterval(Heap);
        SyncFaultCounters();
    }

    private void SyncFaultCounters()
    {
        Statistics.ReadFaults = Heap.ReadFaults;
        Statistics.WriteFaults = Heap.WriteFaults;
        Statistics.TwinsMade = _faults.TwinsMade;
        Statistics.IntervalsClosed = _faults.IntervalsClosed;
    }

    private void CheckLock(int lockId)
    {
        if ((uint)lockId >= (uint)_held.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(lockId), lockId, $"Drone {Id}: lock ids are 0 .. {_held.Length - 1}.");
        }
    }

    private void CheckRunning()
    {
        if (_exited)
        {
            throw new InvalidOperationException($"Drone {Id} has exited; no more shared-memory operations are allowed.");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "drone {DroneId}: started, {Drones} drone(s), heap {HeapBytes} bytes in pages of {PageSize}")]
    private static partial void LogStarted(ILogger logger, int droneId, int drones, long heapBytes, int pageSize);

    [LoggerMessage(Level = LogLevel.Information, Message = "drone {DroneId}: exited after {ElapsedMs:F1} ms")]
    private static partial void LogExited(ILogger logger, int droneId, double elapsedMs);
}
