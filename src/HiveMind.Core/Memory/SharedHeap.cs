using System.Diagnostics;
using System.Runtime.CompilerServices;
using HiveMind.Diffs;
using HiveMind.Native;

namespace HiveMind.Memory;

/// <summary>
/// The shared heap of one drone: one page-aligned native block holding every page, the page table
/// (an access-state byte per page, plus a lazily created <see cref="PageEntry"/> with the twin and the
/// applied vector), and the fast path that every read and write of shared memory takes.
/// </summary>
/// <remarks>
/// Global addresses are byte offsets into the heap; every drone maps the whole heap at its own base.
/// The access-state table holds one byte per 4 KiB granule (a page of more than 4 KiB owns several equal
/// bytes), so the fast path indexes it with a constant shift. Fast path: one bounds compare, one in-granule
/// compare (so a value never straddles an unchecked granule) and one load and compare of the state byte,
/// then the access. Anything else goes to a NoInlining slow path
/// that validates, runs the <see cref="IFaultHandler"/> for each page the access covers, and retries.
/// Spans (<see cref="ReadSpan{T}"/>, <see cref="WriteSpan{T}"/>) are valid until the drone's next synchronization
/// operation. The heap counts synchronizations in an epoch that each span remembers; with <see cref="ChecksSpans"/> each
/// synchronization begins by moving it, and a span used after that throws. Without, the epoch stays put and the check
/// always passes.
/// SAFETY: <see cref="BasePointer"/> is valid until <see cref="Dispose"/>; the state table as long as this object
/// (Dispose leaves it all NoAccess, so every access after it takes the slow path, which throws). Dispose moves the span
/// epoch whether spans are checked or not, so a span of a disposed heap throws instead of touching freed memory (a raw
/// span taken from one does not).
/// </remarks>
public sealed unsafe class SharedHeap : IDisposable
{
    private readonly NativeBlock _memory;
    private readonly byte[] _stateTable;
    private readonly byte* _base;
    private readonly byte* _states;
    private readonly long _size;
    private readonly int _pageShift;
    private readonly int _pageSize;
    private readonly int _granulesPerPageShift;
    private readonly PageEntry?[] _entries;
    private readonly TwinPool _twins;
    private static readonly Lock RegistryGate = new();
    private static SharedHeap[] _live = [];
    // The synchronizations that moved the span epoch lately, each at [its epoch % length]: what a stale span's message names.
    private readonly SpanSynchronization[] _synchronizations = new SpanSynchronization[16];
    private readonly bool _checkSpans;
    private int _spanEpoch;
    private IFaultHandler _faultHandler;
    private long _readFaults;
    private long _writeFaults;
    private int _disposed;

    /// <summary>
    /// Reserves a heap of <paramref name="options"/>' size (untouched pages cost no memory); each access that its page's
    /// state does not allow goes to <paramref name="faultHandler"/> (a drone's protocol engine), or, without one, is allowed.
    /// </summary>
    public SharedHeap(HeapOptions options, IFaultHandler? faultHandler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _pageSize = options.PageSize;
        _pageShift = BitOperationsLog2(options.PageSize);
        _size = options.HeapSize;
        PageCount = (int)(options.HeapSize >> _pageShift);

        _memory = NativeBlock.AllocateZeroed((nuint)options.HeapSize, (nuint)options.PageSize);
        _granulesPerPageShift = _pageShift - StateGranuleShift;
        var granules = (int)(options.HeapSize >> StateGranuleShift);

        // The state table is pinned managed memory, aligned by hand to a cache line, that lives as long as this object:
        // a view that holds this heap (SharedArray) can read it even after Dispose, which leaves every state NoAccess,
        // so that every access after Dispose takes the slow path and throws instead of touching freed memory.
        _stateTable = GC.AllocateArray<byte>(granules + 63, pinned: true);
        _base = _memory.Pointer;
        _states = (byte*)(((nuint)Unsafe.AsPointer(ref _stateTable[0]) + 63) & ~(nuint)63);

        // All pages start valid (zero) on every drone, so a run starts with no traffic.
        new Span<byte>(_states, granules).Fill((byte)PageAccess.ReadOnly);
        _entries = new PageEntry?[PageCount];
        _twins = new TwinPool(_pageSize);
        _faultHandler = faultHandler ?? new LocalFaultHandler();
        _checkSpans = options.CheckSpans;
        Register(this);
    }

    /// <summary>log2 of the bytes that one access-state byte covers (4 KiB, the smallest page).</summary>
    public const int StateGranuleShift = 12;

    /// <summary>Bytes that one access-state byte covers: a value no larger lies in one granule when the fast path lets it through.</summary>
    public const int StateGranuleSize = 1 << StateGranuleShift;

    private const uint StateGranuleMask = (1u << StateGranuleShift) - 1;

    /// <summary>Bytes per page.</summary>
    public int PageSize => _pageSize;

    /// <summary>log2 of <see cref="PageSize"/>.</summary>
    public int PageShift => _pageShift;

    /// <summary>Bytes of shared heap.</summary>
    public long Size => _size;

    /// <summary>Number of pages.</summary>
    public int PageCount { get; }

    /// <summary>Base of the heap in this process. SAFETY: valid until <see cref="Dispose"/>.</summary>
    public byte* BasePointer => _base;

    /// <summary>
    /// The access-state table, one byte per 4 KiB granule of the heap (index: address &gt;&gt; <see cref="StateGranuleShift"/>).
    /// SAFETY: valid as long as this object (after <see cref="Dispose"/> every state is NoAccess).
    /// </summary>
    public byte* StatePointer => _states;

    /// <summary>Twins in use.</summary>
    internal TwinPool Twins => _twins;

    /// <summary>Faults taken by reads (the app thread's count).</summary>
    public long ReadFaults => Interlocked.Read(ref _readFaults);

    /// <summary>Faults taken by writes (the app thread's count).</summary>
    public long WriteFaults => Interlocked.Read(ref _writeFaults);

    /// <summary>
    /// Whether each use of a span this heap hands out checks that no synchronization began since the span was made
    /// (<see cref="HeapOptions.CheckSpans"/>).
    /// </summary>
    public bool ChecksSpans => _checkSpans;

    /// <summary>The drone whose heap this is, named in the messages of stale spans; null when no protocol engine keeps it.</summary>
    public int? DroneId { get; internal set; }

    /// <summary>The span epoch: synchronizations begun since the heap was made while spans are checked (and its disposal).</summary>
    internal int SpanEpoch => _spanEpoch;

    /// <summary>The handler that the slow path calls. The protocol engine installs its own.</summary>
    public IFaultHandler FaultHandler
    {
        get => _faultHandler;
        set => _faultHandler = value ?? throw new ArgumentNullException(nameof(value));
    }

    // ---------------------------------------------------------------- fast path

    /// <summary>Reads a <typeparamref name="T"/> at a global address, faulting the page in if needed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Read<T>(long address)
        where T : unmanaged
    {
        // sizeof(T) is a constant to the JIT: a value larger than a granule always takes the slow path, which checks
        // every page it covers.
        if (sizeof(T) <= StateGranuleSize
            && (ulong)address < (ulong)_size
            && ((uint)address & StateGranuleMask) <= StateGranuleMask + 1 - (uint)sizeof(T)
            && _states[(nuint)address >> StateGranuleShift] != (byte)PageAccess.NoAccess)
        {
            return Unsafe.ReadUnaligned<T>(_base + address);
        }

        return ReadSlow<T>(address);
    }

    /// <summary>Writes a <typeparamref name="T"/> at a global address, taking a write fault if needed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write<T>(long address, T value)
        where T : unmanaged
    {
        if (sizeof(T) <= StateGranuleSize
            && (ulong)address < (ulong)_size
            && ((uint)address & StateGranuleMask) <= StateGranuleMask + 1 - (uint)sizeof(T)
            && _states[(nuint)address >> StateGranuleShift] == (byte)PageAccess.ReadWrite)
        {
            Unsafe.WriteUnaligned(_base + address, value);
            return;
        }

        WriteSlow(address, value);
    }

    /// <summary>
    /// Faults in every page of <c>[address, address + count * sizeof(T))</c> for reading and returns a span
    /// over it, valid until the drone's next synchronization operation (checked when <see cref="ChecksSpans"/>).
    /// </summary>
    public SharedReadOnlySpan<T> ReadSpan<T>(long address, int count)
        where T : unmanaged
    {
        var bytes = CheckRange<T>(address, count);
        EnsureRange(address, bytes, write: false);
        return new SharedReadOnlySpan<T>(new ReadOnlySpan<T>(_base + address, count), this, _spanEpoch);
    }

    /// <summary>
    /// Faults in every page of <c>[address, address + count * sizeof(T))</c> for writing and returns a span
    /// over it, valid until the drone's next synchronization operation (checked when <see cref="ChecksSpans"/>).
    /// </summary>
    public SharedSpan<T> WriteSpan<T>(long address, int count)
        where T : unmanaged
    {
        var bytes = CheckRange<T>(address, count);
        EnsureRange(address, bytes, write: true);
        return new SharedSpan<T>(new Span<T>(_base + address, count), this, _spanEpoch);
    }

    // ---------------------------------------------------------------- span epoch

    /// <summary>The global address where <paramref name="bytes"/> start, when they start inside this heap; else null.</summary>
    internal long? AddressOf(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return null;
        }

        fixed (byte* start = bytes)
        {
            var offset = start - _base;
            return offset >= 0 && offset < _size ? offset : null;
        }
    }

    /// <summary>
    /// Ends the validity of every span handed out so far, when spans are checked: the synchronizing thread calls this as
    /// <paramref name="kind"/> (of lock or barrier <paramref name="id"/>) begins, before the synchronization may change
    /// what the spans cover.
    /// </summary>
    internal void BeginSynchronization(SpanSynchronizationKind kind, int id = 0)
    {
        if (_checkSpans)
        {
            EndSpans(kind, id);
        }
    }

    private void EndSpans(SpanSynchronizationKind kind, int id)
    {
        // Atomic: threads of a drone may synchronize at once (each on its own lock), and neither may undo the other's step.
        // The ring entry is written after the step it names (a message made meanwhile may say "an earlier synchronization").
        var epoch = Interlocked.Increment(ref _spanEpoch);
        lock (_synchronizations)
        {
            _synchronizations[epoch & (_synchronizations.Length - 1)] = new SpanSynchronization(epoch, kind, id);
        }
    }

    /// <summary>The error of a span of <paramref name="length"/> elements at <paramref name="address"/>, made in <paramref name="epoch"/>, used in a later one.</summary>
    internal InvalidOperationException StaleSpan(long address, int length, int elementSize, string elementType, int epoch)
    {
        var drone = DroneId is { } id ? $"Drone {id}: a" : "A";
        var now = _spanEpoch;
        var since = now - epoch > 1 ? $" ({now - epoch} synchronizations since, the last {Describe(now)})" : "";
        return new InvalidOperationException(
            $"{drone} span of {length} {elementType} element(s) ({(long)length * elementSize} bytes) at global address 0x{address:X} " +
            $"is used after {Describe(epoch + 1)} ended its validity{since}: a span of shared memory is valid until the " +
            "drone's next synchronization; take the span again after synchronizing.");
    }

    private string Describe(int epoch)
    {
        SpanSynchronization synchronization;
        lock (_synchronizations)
        {
            synchronization = _synchronizations[epoch & (_synchronizations.Length - 1)];
        }

        if (synchronization.Epoch != epoch)
        {
            return "an earlier synchronization";
        }

        var id = synchronization.Id;
        return synchronization.Kind switch
        {
            SpanSynchronizationKind.Acquire => $"the acquire of lock {id}",
            SpanSynchronizationKind.Attempt => $"the attempt at lock {id}",
            SpanSynchronizationKind.Release => $"the release of lock {id}",
            SpanSynchronizationKind.Barrier => $"barrier {id}",
            SpanSynchronizationKind.Distribute => "a Distribute",
            SpanSynchronizationKind.Exit => "the drone's Exit",
            SpanSynchronizationKind.CollectiveAllocation => "a collective allocation",
            SpanSynchronizationKind.Disposal => "the heap's disposal (the drone ended)",
            _ => "a synchronization",
        };
    }

    // ---------------------------------------------------------------- slow path

    [MethodImpl(MethodImplOptions.NoInlining)]
    private T ReadSlow<T>(long address)
        where T : unmanaged
    {
        var bytes = CheckRange<T>(address, 1);
        EnsureRange(address, bytes, write: false);
        return Unsafe.ReadUnaligned<T>(_base + address);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteSlow<T>(long address, T value)
        where T : unmanaged
    {
        var bytes = CheckRange<T>(address, 1);
        EnsureRange(address, bytes, write: true);
        Unsafe.WriteUnaligned(_base + address, value);
    }

    private long CheckRange<T>(long address, int count)
        where T : unmanaged
    {
        ThrowIfDisposed();
        if (count < 0)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(count), count, "Element count must not be negative.");
        }

        var bytes = (long)count * sizeof(T);
        if (address < 0 || address > _size || bytes > _size - address)
        {
            if (count == 1)
            {
                ThrowHelper.AddressOutOfHeap(address, sizeof(T), _size);
            }

            ThrowHelper.RangeOutOfHeap(address, bytes, _size);
        }

        return bytes;
    }

    /// <summary>Makes every page of a validated range allow the access, running the fault handler as needed.</summary>
    private void EnsureRange(long address, long bytes, bool write)
    {
        if (bytes == 0)
        {
            return;
        }

        var first = (int)(address >> _pageShift);
        var last = (int)((address + bytes - 1) >> _pageShift);
        if (last > first && _faultHandler is IRangeFaultHandler range)
        {
            var needed = 0;
            for (var page = first; page <= last; page++)
            {
                var state = (PageAccess)_states[page << _granulesPerPageShift];
                needed += (write ? state != PageAccess.ReadWrite : state == PageAccess.NoAccess) ? 1 : 0;
            }

            if (needed > 1)
            {
                if (write)
                {
                    Interlocked.Add(ref _writeFaults, needed);
                }
                else
                {
                    Interlocked.Add(ref _readFaults, needed);
                }

                range.OnFaults(this, first, last, write);
            }
        }

        for (var page = first; page <= last; page++)
        {
            EnsurePage(page, write);
        }
    }

    /// <summary>Runs the fault handler for <paramref name="page"/> unless its state already allows the access.</summary>
    public void EnsurePage(int page, bool write)
    {
        ThrowIfDisposed();
        var state = (PageAccess)_states[page << _granulesPerPageShift];
        if (write ? state == PageAccess.ReadWrite : state != PageAccess.NoAccess)
        {
            return;
        }

        Interlocked.Increment(ref write ? ref _writeFaults : ref _readFaults);
        _faultHandler.OnFault(this, page, write);
        state = (PageAccess)_states[page << _granulesPerPageShift];
        if (write ? state != PageAccess.ReadWrite : state == PageAccess.NoAccess)
        {
            ThrowHelper.InvalidOperation(
                $"Fault handler {_faultHandler.GetType().Name} left page {page} in state {state} after a {(write ? "write" : "read")} fault.");
        }
    }

    // ---------------------------------------------------------------- page table, for the protocol engine

    /// <summary>Access state of a page.</summary>
    public PageAccess GetAccess(int page) => (PageAccess)_states[CheckPage(page) << _granulesPerPageShift];

    /// <summary>Sets the access state of a page (all its granules). Only the fault handler (which serializes the faults of the drone's threads) and the synchronizing thread call this.</summary>
    public void SetAccess(int page, PageAccess access)
    {
        var first = CheckPage(page) << _granulesPerPageShift;

        // What the fault handler wrote into the page is visible before the state that lets another thread read it.
        Interlocked.MemoryBarrier();
        if (_granulesPerPageShift == 0)
        {
            _states[first] = (byte)access;
            return;
        }

        new Span<byte>(_states + first, 1 << _granulesPerPageShift).Fill((byte)access);
    }

    /// <summary>The slow-path entry (lock, twin, applied vector) of a page, created on first use.</summary>
    internal PageEntry GetEntry(int page)
    {
        var entries = _entries;
        var entry = Volatile.Read(ref entries[CheckPage(page)]);
        if (entry is not null)
        {
            return entry;
        }

        var created = new PageEntry(page);
        return Interlocked.CompareExchange(ref entries[page], created, null) ?? created;
    }

    /// <summary>The entry of a page if one was created, else null.</summary>
    internal PageEntry? TryGetEntry(int page) => Volatile.Read(ref _entries[CheckPage(page)]);

    /// <summary>The bytes of a page in this drone's copy.</summary>
    public Span<byte> PageBytes(int page)
    {
        ThrowIfDisposed();
        return new(_base + ((long)CheckPage(page) << _pageShift), _pageSize);
    }

    /// <summary>Global address of the first byte of a page.</summary>
    public long PageAddress(int page) => (long)CheckPage(page) << _pageShift;

    /// <summary>Page that holds a global address.</summary>
    public int PageOf(long address)
    {
        if ((ulong)address >= (ulong)_size)
        {
            ThrowHelper.AddressOutOfHeap(address, 1, _size);
        }

        return (int)(address >> _pageShift);
    }

    /// <summary>Copies the page into its twin (renting one if it has none). Takes the page lock.</summary>
    public void MakeTwin(int page)
    {
        ThrowIfDisposed();
        var entry = GetEntry(page);
        lock (entry)
        {
            if (entry.Twin == null)
            {
                entry.Twin = _twins.Rent();
            }

            Unsafe.CopyBlockUnaligned(entry.Twin, _base + ((long)page << _pageShift), (uint)_pageSize);
        }
    }

    /// <summary>
    /// Encodes the diff between the page's twin and its current contents into <paramref name="destination"/>
    /// and brings the twin up to what was encoded, so that writes racing with this call go into the next
    /// diff. Takes the page lock. Returns the bytes written.
    /// </summary>
    public int MakeDiff(int page, Span<byte> destination)
    {
        ThrowIfDisposed();
        var entry = GetEntry(page);
        lock (entry)
        {
            if (entry.Twin == null)
            {
                ThrowHelper.InvalidOperation($"Page {page} has no twin to make a diff against.");
            }

            return PageDiff.Encode(_base + ((long)page << _pageShift), entry.Twin, _pageSize, destination);
        }
    }

    /// <summary>Applies a diff to the local copy of a page (validated first: a bad diff changes nothing).</summary>
    public void ApplyDiff(int page, ReadOnlySpan<byte> diff)
    {
        ThrowIfDisposed();
        var entry = GetEntry(page);
        lock (entry)
        {
            PageDiff.Apply(diff, _base + ((long)page << _pageShift), _pageSize);
        }
    }

    /// <summary>Drops the page's twin, if any. Takes the page lock.</summary>
    public void DropTwin(int page)
    {
        var entry = TryGetEntry(page);
        if (entry is null)
        {
            return;
        }

        lock (entry)
        {
            if (entry.Twin != null)
            {
                _twins.Return(entry.Twin);
                entry.Twin = null;
            }
        }
    }

    /// <summary>
    /// The live heap whose memory holds <paramref name="pointer"/>: how slow paths that carry only a pointer
    /// (<see cref="SharedArray{T}"/>) find their heap. Heaps are listed from construction to <see cref="Dispose"/>.
    /// </summary>
    public static SharedHeap Owning(byte* pointer)
    {
        foreach (var heap in Volatile.Read(ref _live))
        {
            if (pointer >= heap._base && pointer < heap._base + heap._size)
            {
                return heap;
            }
        }

        throw new ObjectDisposedException(nameof(SharedHeap), "The shared heap behind this view was disposed.");
    }

    private static void Register(SharedHeap heap)
    {
        lock (RegistryGate)
        {
            _live = [.. _live, heap];
        }
    }

    private static void Unregister(SharedHeap heap)
    {
        lock (RegistryGate)
        {
            _live = [.. _live.Where(h => h != heap)];
        }
    }

    /// <summary>Whether <see cref="Dispose"/> ran: the heap's memory is gone and every access throws.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Frees the heap's memory; views and addresses into it must not be used after.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Every state NoAccess first: views that still hold this heap fault, and the slow path finds it disposed. Spans
        // fail their check, checked or not.
        new Span<byte>(_states, (int)(_size >> StateGranuleShift)).Fill((byte)PageAccess.NoAccess);
        EndSpans(SpanSynchronizationKind.Disposal, 0);
        Unregister(this);
        _twins.Dispose();
        _memory.Dispose();
    }

    private void ThrowIfDisposed()
    {
        if (IsDisposed)
        {
            ThrowHelper.HeapDisposed();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int CheckPage(int page)
    {
        if ((uint)page >= (uint)PageCount)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(page), page, $"Page must be in [0, {PageCount}).");
        }

        return page;
    }

    private static int BitOperationsLog2(int value)
    {
        Debug.Assert(System.Numerics.BitOperations.IsPow2(value));
        return System.Numerics.BitOperations.Log2((uint)value);
    }
}
