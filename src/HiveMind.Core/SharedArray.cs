using System.Numerics;
using System.Runtime.CompilerServices;
using HiveMind.Memory;

namespace HiveMind;

/// <summary>
/// A typed view of <see cref="Count"/> elements of <typeparamref name="T"/> at a global address of the
/// shared heap: <c>xs[i]</c>, <c>xs.AsSpan(i, n)</c>, <c>xs.AsReadOnlySpan(i, n)</c>.
/// </summary>
/// <remarks>
/// A struct that copies the heap's base and state-table pointers, so that in a loop over a local view they
/// live in registers: the fast path is an index check, one state-byte load and compare, and the access.
/// Elements whose size is a power of two no larger than a page are aligned to their size (checked when the
/// view is made), so an element never straddles a page; other element types go through
/// <see cref="SharedHeap.Read{T}"/>, which checks each access.
/// SAFETY: the pointers are the heap's; the view holds the heap, so they are valid until the heap is disposed.
/// </remarks>
public readonly unsafe struct SharedArray<T>
    where T : unmanaged
{
    private readonly SharedHeap _heap;
    private readonly byte* _base;
    private readonly byte* _states;
    private readonly long _address;
    private readonly int _count;
    private readonly int _pageShift;

    /// <summary>A view of <paramref name="count"/> elements at <paramref name="address"/> of <paramref name="heap"/>.</summary>
    public SharedArray(SharedHeap heap, long address, int count)
    {
        ArgumentNullException.ThrowIfNull(heap);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (address < 0 || address > heap.Size || (long)count * sizeof(T) > heap.Size - address)
        {
            throw new SharedAddressException(
                $"SharedArray<{typeof(T).Name}> of {count} element(s) at global address 0x{address:X} " +
                $"does not fit in the shared heap [0x0, 0x{heap.Size:X}).");
        }

        if (IsPageSafe(heap) && address % sizeof(T) != 0)
        {
            throw new ArgumentException(
                $"SharedArray<{typeof(T).Name}> at global address 0x{address:X} must be aligned to {sizeof(T)} bytes.", nameof(address));
        }

        _heap = heap;
        _base = heap.BasePointer;
        _states = heap.StatePointer;
        _address = address;
        _count = count;
        _pageShift = heap.PageShift;
    }

    /// <summary>Number of elements.</summary>
    public int Count => _count;

    /// <summary>Global address of element 0.</summary>
    public long Address => _address;

    /// <summary>The heap the view reads.</summary>
    public SharedHeap Heap => _heap;

    /// <summary>Global address of element <paramref name="index"/>.</summary>
    public long AddressOf(int index)
    {
        if ((uint)index > (uint)_count)
        {
            ThrowHelper.IndexOutOfRange(index, _count);
        }

        return _address + ((long)index * sizeof(T));
    }

    /// <summary>Element <paramref name="index"/>: reads and writes go through the fast path.</summary>
    public T this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)_count)
            {
                ThrowHelper.IndexOutOfRange(index, _count);
            }

            var address = _address + ((long)index * sizeof(T));
            if (!BitOperations.IsPow2(sizeof(T)) || sizeof(T) > HeapOptions.MinPageSize)
            {
                return _heap.Read<T>(address);
            }

            if (_states[(nuint)address >> _pageShift] == (byte)PageAccess.NoAccess)
            {
                return ReadSlow(_heap, address);
            }

            return Unsafe.ReadUnaligned<T>(_base + address);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set
        {
            if ((uint)index >= (uint)_count)
            {
                ThrowHelper.IndexOutOfRange(index, _count);
            }

            var address = _address + ((long)index * sizeof(T));
            if (!BitOperations.IsPow2(sizeof(T)) || sizeof(T) > HeapOptions.MinPageSize)
            {
                _heap.Write(address, value);
                return;
            }

            if (_states[(nuint)address >> _pageShift] != (byte)PageAccess.ReadWrite)
            {
                WriteSlow(_heap, address, value);
                return;
            }

            Unsafe.WriteUnaligned(_base + address, value);
        }
    }

    /// <summary>Faults in elements [start, start + length) for reading; valid until the next synchronization.</summary>
    public ReadOnlySpan<T> AsReadOnlySpan(int start, int length)
    {
        CheckSlice(start, length);
        return _heap.ReadSpan<T>(_address + ((long)start * sizeof(T)), length);
    }

    /// <summary>Faults in elements [start, start + length) for writing; valid until the next synchronization.</summary>
    public Span<T> AsSpan(int start, int length)
    {
        CheckSlice(start, length);
        return _heap.WriteSpan<T>(_address + ((long)start * sizeof(T)), length);
    }

    /// <summary>The whole array for reading.</summary>
    public ReadOnlySpan<T> AsReadOnlySpan() => AsReadOnlySpan(0, _count);

    /// <summary>The whole array for writing.</summary>
    public Span<T> AsSpan() => AsSpan(0, _count);

    private void CheckSlice(int start, int length)
    {
        if ((ulong)(uint)start + (uint)length > (uint)_count)
        {
            throw new ArgumentOutOfRangeException(
                nameof(length), $"Slice [{start}, {(long)start + length}) is outside the shared array of {_count} element(s).");
        }
    }

    // Aligned power-of-two elements no larger than the smallest page never straddle a page.
    private static bool IsPageSafe(SharedHeap heap) => BitOperations.IsPow2(sizeof(T)) && sizeof(T) <= HeapOptions.MinPageSize && sizeof(T) <= heap.PageSize;

    // Static, so that the loop's copy of the view is never address-exposed and its fields stay in registers.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T ReadSlow(SharedHeap heap, long address) => heap.Read<T>(address);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WriteSlow(SharedHeap heap, long address, T value) => heap.Write(address, value);
}
