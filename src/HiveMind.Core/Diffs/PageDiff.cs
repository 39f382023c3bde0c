using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace HiveMind.Diffs;

/// <summary>
/// Diffs: the run-length encoding of the bytes that differ between a twin and its page.
/// </summary>
/// <remarks>
/// Format: a sequence of runs, each <c>varint skip, varint length, length bytes</c>, where skip counts the
/// unchanged bytes since the end of the previous run (or the page start). Varints are LEB128. A diff holds
/// new values, not deltas, so applying it twice is harmless. Runs are byte-exact: an unchanged byte is never
/// emitted, because another drone may be the writer of that byte in a concurrent interval.
/// <para>
/// Encoding reads each vector of the page once, emits what it read and stores what it read into the twin.
/// A write that races with the encoder therefore either is in this diff or still differs from the twin and
/// goes into the next one: no write is lost.
/// </para>
/// <para>
/// The encoders, the validator and the applier are compiled fully optimized at once
/// (<see cref="MethodImplOptions.AggressiveOptimization"/>): a drone makes and applies diffs in bursts (a range miss,
/// a partition's pages), too few calls for tiered compilation to promote them in time, and their unoptimized code
/// calls each vector load and store instead of inlining it (measured: a range miss of 8 MiB spent most of the
/// serving drone's time in <c>Vector512.Load</c>/<c>Store</c> called from quick-jitted code).
/// </para>
/// </remarks>
internal static unsafe class PageDiff
{
    /// <summary>Largest diff of a region of <paramref name="length"/> bytes (alternating changed bytes).</summary>
    public static int MaxEncodedLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var runs = (length + 1) / 2;
        return checked(length + (runs * 2 * VarintSize((uint)length)));
    }

    /// <summary>
    /// Encodes the bytes of <paramref name="page"/> that differ from <paramref name="twin"/> into
    /// <paramref name="destination"/> and copies them into the twin. Returns the bytes written.
    /// </summary>
    /// <remarks>The caller excludes other encoders of the same twin (the page lock); the page may be written meanwhile.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Encode(byte* page, byte* twin, int length, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (destination.Length < MaxEncodedLength(length))
        {
            ThrowDestinationTooSmall(destination.Length, length);
        }

        fixed (byte* output = destination)
        {
            var writer = new RunWriter(twin, output);
            var offset = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                offset = EncodeVectors<Lane512>(page, twin, length, ref writer);
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                offset = EncodeVectors<Lane256>(page, twin, length, ref writer);
            }
            else if (Vector128.IsHardwareAccelerated)
            {
                offset = EncodeVectors<Lane128>(page, twin, length, ref writer);
            }

            offset = EncodeWords(page, twin, offset, length, ref writer);
            EncodeBytes(page, twin, offset, length, ref writer);
            writer.Finish(length);
            return writer.Written;
        }
    }

    /// <summary>The portable (non-vector) encoder, for tests and for comparison in benchmarks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int EncodeScalar(byte* page, byte* twin, int length, Span<byte> destination)
    {
        if (destination.Length < MaxEncodedLength(length))
        {
            ThrowDestinationTooSmall(destination.Length, length);
        }

        fixed (byte* output = destination)
        {
            var writer = new RunWriter(twin, output);
            var offset = EncodeWords(page, twin, 0, length, ref writer);
            EncodeBytes(page, twin, offset, length, ref writer);
            writer.Finish(length);
            return writer.Written;
        }
    }

    /// <summary>
    /// Applies <paramref name="diff"/> to the <paramref name="length"/> bytes at <paramref name="page"/>.
    /// The whole diff is validated first, so a malformed one changes nothing and throws <see cref="InvalidDataException"/>.
    /// </summary>
    public static void Apply(ReadOnlySpan<byte> diff, byte* page, int length)
    {
        Validate(diff, length);
        ApplyValidated(diff, page);
    }

    /// <summary>
    /// Applies a diff that <see cref="Validate"/> accepted for this page length, or that this drone made:
    /// diffs from the network are validated once, where they enter the drone, and applied with this.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ApplyValidated(ReadOnlySpan<byte> diff, byte* page)
    {
        fixed (byte* start = diff)
        {
            var p = start;
            var end = start + diff.Length;
            var target = page;
            while (p < end)
            {
                uint skip = *p++;
                if (skip >= 0x80)
                {
                    skip = ReadVarintTail(ref p, skip);
                }

                uint count = *p++;
                if (count >= 0x80)
                {
                    count = ReadVarintTail(ref p, count);
                }

                target += skip;
                CopyRun(target, p, count);
                p += count;
                target += count;
            }
        }
    }

    /// <summary>Copies one run; the short runs that word-sized writes make avoid a call to memmove.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRun(byte* target, byte* source, uint count)
    {
        switch (count)
        {
            case 1:
                *target = *source;
                break;
            case 2:
                Unsafe.WriteUnaligned(target, Unsafe.ReadUnaligned<ushort>(source));
                break;
            case 3:
                Unsafe.WriteUnaligned(target, Unsafe.ReadUnaligned<ushort>(source));
                target[2] = source[2];
                break;
            case 4:
                Unsafe.WriteUnaligned(target, Unsafe.ReadUnaligned<uint>(source));
                break;
            case 8:
                Unsafe.WriteUnaligned(target, Unsafe.ReadUnaligned<ulong>(source));
                break;
            default:
                Unsafe.CopyBlockUnaligned(target, source, count);
                break;
        }
    }

    /// <summary>Rest of a varint whose first byte had the continuation bit (the diff is valid, so it ends).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static uint ReadVarintTail(ref byte* p, uint first)
    {
        var value = first & 0x7F;
        for (var shift = 7; ; shift += 7)
        {
            uint b = *p++;
            value |= (b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }

    /// <summary>Throws <see cref="InvalidDataException"/> unless <paramref name="diff"/> is a well-formed diff of a region of <paramref name="length"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Validate(ReadOnlySpan<byte> diff, int length)
    {
        var position = 0;
        long offset = 0;
        var runs = 0;
        while (position < diff.Length)
        {
            if (!TryReadVarintFast(diff, ref position, out var skip) || !TryReadVarintFast(diff, ref position, out var count))
            {
                ThrowInvalid($"run {runs} has a truncated or overlong header at diff byte {position}");
                return;
            }

            if (count == 0)
            {
                ThrowInvalid($"run {runs} at diff byte {position} is empty");
            }

            offset += skip;
            if (offset + count > length)
            {
                ThrowInvalid($"run {runs} covers [{offset}, {offset + count}) beyond the page end {length}");
            }

            if (count > (uint)(diff.Length - position))
            {
                ThrowInvalid($"run {runs} needs {count} data bytes but only {diff.Length - position} remain");
            }

            position += (int)count;
            offset += count;
            runs++;
        }
    }

    /// <summary>Number of bytes a diff changes (the sum of its run lengths). The diff must be valid.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ChangedBytes(ReadOnlySpan<byte> diff)
    {
        var position = 0;
        var total = 0;
        while (position < diff.Length)
        {
            _ = ReadVarint(diff, ref position);
            var count = (int)ReadVarint(diff, ref position);
            position += count;
            total += count;
        }

        return total;
    }

    // ------------------------------------------------------------ encoder loops

    /// <summary>Vector part: whole vectors, four at a time while the page is unchanged. Returns the offset reached.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int EncodeVectors<TLane>(byte* page, byte* twin, int length, ref RunWriter writer)
        where TLane : struct, ILane
    {
        var width = TLane.Width;
        var offset = 0;
        var probe = true;
        for (; offset <= length - (4 * width); offset += 4 * width)
        {
            // A hint only: the vectors are read again below, and what is emitted is what that second read saw.
            // Skipped right after a changed group, where it would mostly fail (a fully changed page).
            if (probe && TLane.AllEqual4(page + offset, twin + offset))
            {
                writer.Unchanged(offset);
                continue;
            }

            ulong any = 0;
            for (var k = 0; k < 4; k++)
            {
                var at = offset + (k * width);
                var changed = TLane.CompareAndStore(page + at, twin + at);
                writer.Chunk(changed, at, width);
                any |= changed;
            }

            probe = any == 0;
        }

        for (; offset <= length - width; offset += width)
        {
            writer.Chunk(TLane.CompareAndStore(page + offset, twin + offset), offset, width);
        }

        return offset;
    }

    /// <summary>ulong part: eight bytes at a time. Returns the offset reached.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int EncodeWords(byte* page, byte* twin, int offset, int length, ref RunWriter writer)
    {
        for (; offset <= length - 8; offset += 8)
        {
            var value = Unsafe.ReadUnaligned<ulong>(page + offset);
            var old = Unsafe.ReadUnaligned<ulong>(twin + offset);
            var changed = value ^ old;
            if (changed == 0)
            {
                writer.Unchanged(offset);
                continue;
            }

            Unsafe.WriteUnaligned(twin + offset, value);
            writer.Chunk(NonZeroBytes(changed), offset, 8);
        }

        return offset;
    }

    /// <summary>Tail: single bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EncodeBytes(byte* page, byte* twin, int offset, int length, ref RunWriter writer)
    {
        var count = length - offset;
        if (count <= 0)
        {
            return;
        }

        ulong mask = 0;
        for (var i = 0; i < count; i++)
        {
            var value = page[offset + i];
            if (value != twin[offset + i])
            {
                twin[offset + i] = value;
                mask |= 1UL << i;
            }
        }

        writer.Chunk(mask, offset, count);
    }

    /// <summary>One bit per byte of <paramref name="x"/> (bit i for byte i, little endian): set where the byte is non-zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong NonZeroBytes(ulong x)
    {
        const ulong Low7 = 0x7F7F_7F7F_7F7F_7F7FUL;
        var high = (((x & Low7) + Low7) | x) & ~Low7;   // bit 7 of each byte: byte != 0
        return ((high >> 7) * 0x0102_0408_1020_4080UL) >> 56;
    }

    // ------------------------------------------------------------ run writer

    /// <summary>Turns per-chunk change masks into runs; copies run data from the twin, which holds what was read.</summary>
    private ref struct RunWriter
    {
        private readonly byte* _twin;
        private readonly byte* _output;
        private int _written;
        private int _runStart;
        private int _previousEnd;

        public RunWriter(byte* twin, byte* output)
        {
            _twin = twin;
            _output = output;
            _runStart = -1;
        }

        public readonly int Written => _written;

        /// <summary>A chunk that starts at <paramref name="offset"/> is entirely unchanged.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Unchanged(int offset)
        {
            if (_runStart >= 0)
            {
                EmitRun(offset);
            }
        }

        /// <summary>Bit i of <paramref name="changed"/> says whether byte <paramref name="offset"/> + i changed.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Chunk(ulong changed, int offset, int width)
        {
            var open = _runStart >= 0 ? 1UL : 0UL;
            if ((changed | open) == 0)
            {
                return;
            }

            var widthMask = width == 64 ? ulong.MaxValue : (1UL << width) - 1;
            if (changed == widthMask && open != 0)
            {
                return; // the open run goes on through the whole chunk
            }

            var previous = ((changed << 1) | open) & widthMask;   // bit i: byte i - 1 changed
            var transitions = (changed ^ previous) & widthMask;   // starts (changed) and ends (unchanged)
            while (transitions != 0)
            {
                var bit = BitOperations.TrailingZeroCount(transitions);
                if (_runStart >= 0)
                {
                    EmitRun(offset + bit);
                }
                else
                {
                    _runStart = offset + bit;
                }

                transitions &= transitions - 1;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Finish(int length)
        {
            if (_runStart >= 0)
            {
                EmitRun(length);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void EmitRun(int end)
        {
            Debug.Assert(_runStart >= 0 && end > _runStart);
            var count = end - _runStart;
            _written += WriteVarint(_output + _written, (uint)(_runStart - _previousEnd));
            _written += WriteVarint(_output + _written, (uint)count);
            Unsafe.CopyBlockUnaligned(_output + _written, _twin + _runStart, (uint)count);
            _written += count;
            _previousEnd = end;
            _runStart = -1;
        }
    }

    // ------------------------------------------------------------ lanes

    /// <summary>One vector width: compares, and stores what it read into the twin where it differs.</summary>
    private interface ILane
    {
        static abstract int Width { get; }

        static abstract bool AllEqual4(byte* page, byte* twin);

        static abstract ulong CompareAndStore(byte* page, byte* twin);
    }

    private readonly struct Lane512 : ILane
    {
        public static int Width => Vector512<byte>.Count;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool AllEqual4(byte* page, byte* twin)
        {
            var x = (Vector512.Load(page) ^ Vector512.Load(twin))
                  | (Vector512.Load(page + 64) ^ Vector512.Load(twin + 64))
                  | (Vector512.Load(page + 128) ^ Vector512.Load(twin + 128))
                  | (Vector512.Load(page + 192) ^ Vector512.Load(twin + 192));
            return x == Vector512<byte>.Zero;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong CompareAndStore(byte* page, byte* twin)
        {
            var value = Vector512.Load(page);
            var changed = ~Vector512.Equals(value, Vector512.Load(twin)).ExtractMostSignificantBits();
            if (changed != 0)
            {
                value.Store(twin);
            }

            return changed;
        }
    }

    private readonly struct Lane256 : ILane
    {
        public static int Width => Vector256<byte>.Count;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool AllEqual4(byte* page, byte* twin)
        {
            var x = (Vector256.Load(page) ^ Vector256.Load(twin))
                  | (Vector256.Load(page + 32) ^ Vector256.Load(twin + 32))
                  | (Vector256.Load(page + 64) ^ Vector256.Load(twin + 64))
                  | (Vector256.Load(page + 96) ^ Vector256.Load(twin + 96));
            return x == Vector256<byte>.Zero;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong CompareAndStore(byte* page, byte* twin)
        {
            var value = Vector256.Load(page);
            var changed = ~Vector256.Equals(value, Vector256.Load(twin)).ExtractMostSignificantBits() & 0xFFFF_FFFFUL;
            if (changed != 0)
            {
                value.Store(twin);
            }

            return changed;
        }
    }

    private readonly struct Lane128 : ILane
    {
        public static int Width => Vector128<byte>.Count;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool AllEqual4(byte* page, byte* twin)
        {
            var x = (Vector128.Load(page) ^ Vector128.Load(twin))
                  | (Vector128.Load(page + 16) ^ Vector128.Load(twin + 16))
                  | (Vector128.Load(page + 32) ^ Vector128.Load(twin + 32))
                  | (Vector128.Load(page + 48) ^ Vector128.Load(twin + 48));
            return x == Vector128<byte>.Zero;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ulong CompareAndStore(byte* page, byte* twin)
        {
            var value = Vector128.Load(page);
            var changed = ~Vector128.Equals(value, Vector128.Load(twin)).ExtractMostSignificantBits() & 0xFFFFUL;
            if (changed != 0)
            {
                value.Store(twin);
            }

            return changed;
        }
    }

    // ------------------------------------------------------------ varints

    internal static int VarintSize(uint value) => value < (1u << 7) ? 1 : value < (1u << 14) ? 2 : value < (1u << 21) ? 3 : value < (1u << 28) ? 4 : 5;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int WriteVarint(byte* destination, uint value)
    {
        if (value < 0x80)
        {
            destination[0] = (byte)value;
            return 1;
        }

        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint ReadVarint(ReadOnlySpan<byte> source, ref int position)
    {
        uint first = source[position];
        if (first < 0x80)
        {
            position++;
            return first;
        }

        _ = TryReadVarint(source, ref position, out var value);
        return value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryReadVarintFast(ReadOnlySpan<byte> source, ref int position, out uint value)
    {
        if ((uint)position < (uint)source.Length && source[position] < 0x80)
        {
            value = source[position++];
            return true;
        }

        return TryReadVarint(source, ref position, out value);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool TryReadVarint(ReadOnlySpan<byte> source, ref int position, out uint value)
    {
        value = 0;
        for (var shift = 0; shift < 35; shift += 7)
        {
            if (position >= source.Length)
            {
                return false;
            }

            uint b = source[position++];
            if (shift == 28 && b > 0x0F)
            {
                return false; // more than 32 bits
            }

            value |= (b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    [DoesNotReturn]
    private static void ThrowInvalid(string reason) => throw new InvalidDataException($"Malformed diff: {reason}.");

    [DoesNotReturn]
    private static void ThrowDestinationTooSmall(int have, int length) =>
        throw new ArgumentException(
            $"Diff destination holds {have} bytes; a diff of {length} bytes may need {MaxEncodedLength(length)}.", "destination");
}
