using System.Buffers;
using System.Buffers.Binary;

namespace HiveMind.Net.Transport;

/// <summary>
/// One outgoing frame: a pooled buffer that starts with a 4-byte length prefix, filled through
/// <see cref="IBufferWriter{T}"/> by the codec, sealed (prefix written) before it is queued, and returned to
/// the pool once it is written (a link keeps a copy of what the peer has not yet acknowledged).
/// </summary>
internal sealed class FrameBuffer : IBufferWriter<byte>
{
    /// <summary>Bytes of the length prefix (big-endian, counting the bytes after it).</summary>
    public const int PrefixBytes = 4;

    private byte[] _buffer;
    private int _written;

    private FrameBuffer(int capacity)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, 256));
        _written = PrefixBytes;
    }

    /// <summary>Bytes of the whole frame, prefix included.</summary>
    public int Length => _written;

    /// <summary>The frame's message kind, for the per-kind counters.</summary>
    public byte Kind { get; set; }

    /// <summary>The whole frame, prefix included.</summary>
    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, _written);

    /// <summary>A frame buffer for about <paramref name="capacity"/> bytes of body.</summary>
    public static FrameBuffer Rent(int capacity = 256) => new(capacity + PrefixBytes);

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_buffer.Length - _written))
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "Advance past the end of the frame buffer.");
        }

        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    /// <summary>Writes the length prefix; the frame is complete.</summary>
    public void Seal() => BinaryPrimitives.WriteUInt32BigEndian(_buffer, (uint)(_written - PrefixBytes));

    /// <summary>The whole frame, prefix included, as memory (for a write that may finish on another thread).</summary>
    internal ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, _written);

    /// <summary>Gives the buffer back to the pool; the frame must not be used after.</summary>
    public void Return()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Ensure(int sizeHint)
    {
        var needed = Math.Max(sizeHint, 1);
        if (_buffer.Length - _written >= needed)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _written + needed));
        _buffer.AsSpan(0, _written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
    }
}
