using System.Buffers;

namespace HiveMind.Net.Tests.Codec;

/// <summary>An output whose spans hold only the size asked for (or <c>chunk</c> bytes), so the writer takes its slow path often.</summary>
internal sealed class ChunkedBufferWriter(int chunk) : IBufferWriter<byte>
{
    private readonly MemoryStream _written = new();
    private byte[] _current = [];

    /// <summary>How many spans the writer asked for.</summary>
    public int Requests { get; private set; }

    public void Advance(int count)
    {
        if (count < 0 || count > _current.Length)
        {
            throw new InvalidOperationException($"Advance({count}) after a span of {_current.Length} byte(s) was handed out.");
        }

        _written.Write(_current, 0, count);
        _current = [];
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Requests++;
        _current = new byte[Math.Max(Math.Max(sizeHint, 1), chunk)];
        // Poison, so a byte the writer forgot to fill shows up in the comparison.
        _current.AsSpan().Fill(0xEE);
        return _current;
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public byte[] ToArray() => _written.ToArray();
}
