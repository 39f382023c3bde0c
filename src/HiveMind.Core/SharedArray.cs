using System.Numerics;
using System.Runtime.CompilerServices;
using HiveMind.Memory;

namespace HiveMind;

/// <summary>
/// A typed view of <see cref="Count"/> elements of <typeparamref name="T"/> at a global address of the
/// shared heap: <c>xs[i]</c>, <c>xs.AsSpan(i, n)</c>, <c>xs.AsReadOnlySpan(i, n)</c>. A view of more than
/// <see cref="int.MaxValue"/> elements is a <see cref="SharedLargeArray{T}"/>.
/// </summary>
/// <remarks>
/// A struct that holds a pointer to element 0 and a state-table pointer biased so that it is indexed by the
/// element's own address shifted by a constant: in a loop over a local view the fast path is an index check,
/// one state-byte load and compare, and the access, with nothing but the view's pointers and count live.
/// The slow path finds the heap from the element pointer, so the heap reference stays out of the loop.
/// Elements whose size is a power of two no larger than a page are aligned to their size (checked when the
/// view is made), so an element never straddles a page; other element types go through
/// <see cref="SharedHeap.Read{T}"/>, which checks each access.
/// SAFETY: the pointers are the heap's, and the view holds the heap: the state table lives as long as the heap object, and
/// after Dispose every state is NoAccess, so the element pointer is only dereferenced while the heap is live (the slow
/// path finds a disposed heap and throws).
/// </remarks>
public readonly unsafe struct SharedArray<T>
    where T : unmanaged
{
    private readonly SharedHeap _heap;
    private readonly byte* _elements;
    private readonly byte* _biasedStates;
    private readonly int _count;

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
        _elements = heap.BasePointer + address;

        // The base is page-aligned, so (pointer >> shift) - (base >> shift) is the granule of the pointer.
        _biasedStates = heap.StatePointer - ((nuint)heap.BasePointer >> SharedHeap.StateGranuleShift);
        _count = count;
    }

    /// <summary>Number of elements.</summary>
    public int Count => _count;

    /// <summary>Global address of element 0.</summary>
    public long Address => _elements - _heap.BasePointer;

    /// <summary>The heap the view reads.</summary>
    public SharedHeap Heap => _heap;

    /// <summary>Global address of element <paramref name="index"/>.</summary>
    public long AddressOf(int index)
    {
        if ((uint)index > (uint)_count)
        {
            ThrowHelper.IndexOutOfRange(index, _count);
        }

        return Address + ((long)index * sizeof(T));
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

            if (!BitOperations.IsPow2(sizeof(T)) || sizeof(T) > HeapOptions.MinPageSize)
            {
                return _heap.Read<T>(Address + ((long)index * sizeof(T)));
            }

            var element = _elements + ((nint)index * sizeof(T));
            if (_biasedStates[(nuint)element >> SharedHeap.StateGranuleShift] == (byte)PageAccess.NoAccess)
            {
                return ReadSlow(element);
            }

            return Unsafe.ReadUnaligned<T>(element);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set
        {
            if ((uint)index >= (uint)_count)
            {
                ThrowHelper.IndexOutOfRange(index, _count);
            }

            if (!BitOperations.IsPow2(sizeof(T)) || sizeof(T) > HeapOptions.MinPageSize)
            {
                _heap.Write(Address + ((long)index * sizeof(T)), value);
                return;
            }

            var element = _elements + ((nint)index * sizeof(T));
            if (_biasedStates[(nuint)element >> SharedHeap.StateGranuleShift] != (byte)PageAccess.ReadWrite)
            {
                WriteSlow(element, value);
                return;
            }

            Unsafe.WriteUnaligned(element, value);
        }
    }

    /// <summary>Faults in elements [start, start + length) for reading; valid until the next synchronization (see <see cref="SharedReadOnlySpan{T}"/>).</summary>
    public SharedReadOnlySpan<T> AsReadOnlySpan(int start, int length)
    {
        CheckSlice(start, length);
        return _heap.ReadSpan<T>(Address + ((long)start * sizeof(T)), length);
    }

    /// <summary>Faults in elements [start, start + length) for writing; valid until the next synchronization (see <see cref="SharedSpan{T}"/>).</summary>
    public SharedSpan<T> AsSpan(int start, int length)
    {
        CheckSlice(start, length);
        return _heap.WriteSpan<T>(Address + ((long)start * sizeof(T)), length);
    }

    /// <summary>The whole array for reading.</summary>
    public SharedReadOnlySpan<T> AsReadOnlySpan() => AsReadOnlySpan(0, _count);

    /// <summary>The whole array for writing.</summary>
    public SharedSpan<T> AsSpan() => AsSpan(0, _count);

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

    // Static and given only the pointer, so that the loop's copy of the view is never address-exposed and
    // the heap reference is not live across the call (fewer values than callee-saved registers).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T ReadSlow(byte* element)
    {
        var heap = SharedHeap.Owning(element);
        return heap.Read<T>(element - heap.BasePointer);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WriteSlow(byte* element, T value)
    {
        var heap = SharedHeap.Owning(element);
        heap.Write(element - heap.BasePointer, value);
    }
}
