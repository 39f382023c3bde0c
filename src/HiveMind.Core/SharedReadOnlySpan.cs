using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using HiveMind.Memory;

namespace HiveMind;

/// <summary>
/// A read-only span of shared memory (<see cref="SharedHeap.ReadSpan{T}"/>, <see cref="SharedArray{T}.AsReadOnlySpan(int, int)"/>),
/// valid until the drone's next synchronization operation (a lock acquire, attempt or release, a barrier, a Distribute,
/// Exit): its contents are coherent only until then, and a synchronization may invalidate its pages.
/// </summary>
/// <remarks>
/// With <see cref="SharedHeap.ChecksSpans"/> (<c>--check-spans</c>, on by default when the program is a Debug build)
/// every member that touches the elements or hands out a span or an address (the indexer, the enumerator,
/// <see cref="Slice(int, int)"/>, <see cref="CopyTo"/>, <see cref="ToArray"/>, <see cref="Address"/>, the conversions...)
/// first checks that no synchronization began since the span was made, and throws <see cref="InvalidOperationException"/>
/// naming the drone, the span's address and the synchronization if one did; off, the check is a load and a compare that
/// always passes. <see cref="Length"/> and <see cref="IsEmpty"/>, which a loop tests at every step and which touch no
/// shared memory, do not check. A <see cref="ReadOnlySpan{T}"/> taken from it by the implicit
/// conversion is not checked from then on: that is how a hot loop opts out (take it after the last synchronization, use it
/// before the next).
/// SAFETY: points into the heap's native memory, valid until the heap's disposal, which fails every later check.
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
public readonly ref struct SharedReadOnlySpan<T>
    where T : unmanaged
{
    // Three fields (the heap only for its epoch and, when thrown, the message), so that a local copy stays in registers.
    private readonly ReadOnlySpan<T> _span;
    private readonly SharedHeap? _heap;
    private readonly int _epoch;

    internal SharedReadOnlySpan(ReadOnlySpan<T> span, SharedHeap? heap, int epoch)
    {
        _span = span;
        _heap = heap;
        _epoch = epoch;
    }

    /// <summary>Number of elements.</summary>
    public int Length => _span.Length;

    /// <summary>Whether the span holds no element.</summary>
    public bool IsEmpty => _span.IsEmpty;

    /// <summary>Global address of element 0 (0 for a default span, which no heap handed out).</summary>
    public long Address
    {
        get
        {
            CheckEpoch();
            return SharedSpan<T>.AddressOf(_span, _heap);
        }
    }

    /// <summary>Element <paramref name="index"/>, by read-only reference.</summary>
    /// <exception cref="IndexOutOfRangeException"><paramref name="index"/> is outside [0, <see cref="Length"/>).</exception>
    /// <exception cref="InvalidOperationException">The span is checked and a synchronization began since it was made.</exception>
    /// <exception cref="NullReferenceException">The span is a default one, which no heap handed out (it holds no element).</exception>
    public ref readonly T this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            // The epoch check first, then the span's own bounds check (which a loop over Length drops): the epoch's load
            // then leaves a loop that does not write, and the throw helper does not return, so nothing is live across it.
            // A default span (no heap) fails here with a NullReferenceException: guarding against it would cost a test in
            // every loop.
            if (_heap!.SpanEpoch != _epoch)
            {
                SharedSpan<T>.ThrowStale(_heap, ref MemoryMarshal.GetReference(_span), _span.Length, _epoch);
            }

            return ref _span[index];
        }
    }

    /// <summary>The raw span, no longer checked (see the remarks); checks once, here.</summary>
    public static implicit operator ReadOnlySpan<T>(SharedReadOnlySpan<T> span)
    {
        span.CheckEpoch();
        return span._span;
    }

    /// <summary>The raw span, no longer checked (what the implicit conversion gives): for <see cref="MemoryExtensions"/>, say.</summary>
    public ReadOnlySpan<T> ToReadOnlySpan() => this;

    /// <summary>Elements [<paramref name="start"/>, <see cref="Length"/>): a span as checked as this one, made at the same time.</summary>
    public SharedReadOnlySpan<T> Slice(int start)
    {
        CheckEpoch();
        return new SharedReadOnlySpan<T>(_span[start..], _heap, _epoch);
    }

    /// <summary>Elements [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>): a span as checked as this one, made at the same time.</summary>
    public SharedReadOnlySpan<T> Slice(int start, int length)
    {
        CheckEpoch();
        return new SharedReadOnlySpan<T>(_span.Slice(start, length), _heap, _epoch);
    }

    /// <summary>Copies the elements into <paramref name="destination"/>, which must be at least as long.</summary>
    public void CopyTo(Span<T> destination)
    {
        CheckEpoch();
        _span.CopyTo(destination);
    }

    /// <summary>Copies the elements into <paramref name="destination"/> if it is long enough; returns whether it was.</summary>
    public bool TryCopyTo(Span<T> destination)
    {
        CheckEpoch();
        return _span.TryCopyTo(destination);
    }

    /// <summary>A private array with a copy of the elements.</summary>
    public T[] ToArray()
    {
        CheckEpoch();
        return _span.ToArray();
    }

    /// <summary>An enumerator of the elements by read-only reference (<c>foreach (var x in span)</c>), each checked as the indexer is.</summary>
    public Enumerator GetEnumerator()
    {
        CheckEpoch();
        return new Enumerator(this);
    }

    /// <summary>The span's element type, length and global address (no element: it is not checked).</summary>
    public override string ToString() => $"SharedReadOnlySpan<{typeof(T).Name}>[{_span.Length}] at 0x{SharedSpan<T>.AddressOf(_span, _heap):X}";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckEpoch()
    {
        if (_heap is not null && _heap.SpanEpoch != _epoch)
        {
            SharedSpan<T>.ThrowStale(_heap, ref MemoryMarshal.GetReference(_span), _span.Length, _epoch);
        }
    }

    /// <summary>Enumerates a <see cref="SharedReadOnlySpan{T}"/> by read-only reference; each <see cref="Current"/> is checked.</summary>
    public ref struct Enumerator
    {
        private readonly SharedReadOnlySpan<T> _span;
        private int _index;

        internal Enumerator(SharedReadOnlySpan<T> span)
        {
            _span = span;
            _index = -1;
        }

        /// <summary>The element at the enumerator's position, by read-only reference.</summary>
        public readonly ref readonly T Current
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => ref _span[_index];
        }

        /// <summary>Moves to the next element; false past the last.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool MoveNext() => ++_index < _span._span.Length;
    }
}
