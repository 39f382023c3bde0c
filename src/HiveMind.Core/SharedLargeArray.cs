using System.Runtime.CompilerServices;
using HiveMind.Memory;

namespace HiveMind;

/// <summary>
/// A typed view of <see cref="Count"/> elements of <typeparamref name="T"/> at a global address of the shared heap, where
/// the count may pass <see cref="int.MaxValue"/>: <c>xs[i]</c> with a <see cref="long"/> index, spans of up to
/// <see cref="int.MaxValue"/> elements from any <see cref="long"/> start, and <see cref="Window"/>, a
/// <see cref="SharedArray{T}"/> over part of it for a loop.
/// </summary>
/// <remarks>
/// Its own type, not a longer <see cref="SharedArray{T}"/>: a count that may not fit an <see cref="int"/> would make
/// <c>i &lt; xs.Count</c> in every loop over a <see cref="SharedArray{T}"/> check it (measured: 1.3 times slower reads).
/// An element is read and written through <see cref="SharedHeap.Read{T}"/> and <see cref="SharedHeap.Write{T}"/>, which
/// check each access; a loop over many elements goes faster over a <see cref="Window"/> or a span.
/// </remarks>
public readonly struct SharedLargeArray<T>
    where T : unmanaged
{
    private readonly SharedHeap _heap;
    private readonly long _address;
    private readonly long _count;

    /// <summary>A view of <paramref name="count"/> elements at <paramref name="address"/> of <paramref name="heap"/>.</summary>
    /// <exception cref="SharedAddressException">The elements do not fit in the heap.</exception>
    public SharedLargeArray(SharedHeap heap, long address, long count)
    {
        ArgumentNullException.ThrowIfNull(heap);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (address < 0 || address > heap.Size || count > (heap.Size - address) / Unsafe.SizeOf<T>())
        {
            throw new SharedAddressException(
                $"SharedLargeArray<{typeof(T).Name}> of {count} element(s) at global address 0x{address:X} " +
                $"does not fit in the shared heap [0x0, 0x{heap.Size:X}).");
        }

        (_heap, _address, _count) = (heap, address, count);
    }

    /// <summary>Number of elements.</summary>
    public long Count => _count;

    /// <summary>Global address of element 0.</summary>
    public long Address => _address;

    /// <summary>The heap the view reads.</summary>
    public SharedHeap Heap => _heap;

    /// <summary>Global address of element <paramref name="index"/>.</summary>
    public long AddressOf(long index)
    {
        if ((ulong)index > (ulong)_count)
        {
            ThrowHelper.IndexOutOfRange(index, _count);
        }

        return _address + (index * Unsafe.SizeOf<T>());
    }

    /// <summary>Element <paramref name="index"/>, read and written through the heap's checked access.</summary>
    public T this[long index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((ulong)index >= (ulong)_count)
            {
                ThrowHelper.IndexOutOfRange(index, _count);
            }

            return _heap.Read<T>(_address + (index * Unsafe.SizeOf<T>()));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set
        {
            if ((ulong)index >= (ulong)_count)
            {
                ThrowHelper.IndexOutOfRange(index, _count);
            }

            _heap.Write(_address + (index * Unsafe.SizeOf<T>()), value);
        }
    }

    /// <summary>Elements [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) as a <see cref="SharedArray{T}"/>, whose indexer is the fast path.</summary>
    public SharedArray<T> Window(long start, int count)
    {
        CheckSlice(start, count);
        return new SharedArray<T>(_heap, _address + (start * Unsafe.SizeOf<T>()), count);
    }

    /// <summary>Faults in elements [start, start + length) for reading; valid until the next synchronization (see <see cref="SharedReadOnlySpan{T}"/>).</summary>
    public SharedReadOnlySpan<T> AsReadOnlySpan(long start, int length)
    {
        CheckSlice(start, length);
        return _heap.ReadSpan<T>(_address + (start * Unsafe.SizeOf<T>()), length);
    }

    /// <summary>Faults in elements [start, start + length) for writing; valid until the next synchronization (see <see cref="SharedSpan{T}"/>).</summary>
    public SharedSpan<T> AsSpan(long start, int length)
    {
        CheckSlice(start, length);
        return _heap.WriteSpan<T>(_address + (start * Unsafe.SizeOf<T>()), length);
    }

    private void CheckSlice(long start, int length)
    {
        if (start < 0 || length < 0 || start > _count - length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(length), $"Slice [{start}, {start + length}) is outside the shared array of {_count} element(s).");
        }
    }
}
