using System.Runtime.InteropServices;

namespace HiveMind.Native;

/// <summary>
/// Owns one block of native memory: allocates it zeroed and aligned, counts its bytes in
/// <see cref="LiveBytes"/>, and frees it exactly once. Every native allocation of HiveMind goes through it.
/// </summary>
/// <remarks>
/// The block comes from <see cref="NativeMemory.AllocZeroed(nuint)"/> (calloc) with room to align it by
/// hand: large blocks are fresh anonymous mappings that the C library neither touches nor clears, so the
/// OS commits a page only when it is first written. That is what lets a 1 GiB heap cost nothing until used.
/// SAFETY: <see cref="Pointer"/> is valid from construction until <see cref="Dispose"/>; users must not keep
/// it past that. The finalizer frees a block that was never disposed, so holders of the pointer must also
/// hold a reference to the block (or its owner).
/// </remarks>
public sealed unsafe class NativeBlock : IDisposable
{
    private static long _liveBytes;
    private static long _liveBlocks;

    private nint _raw;
    private readonly nuint _rawLength;

    private NativeBlock(nuint length, nuint alignment)
    {
        if (length == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "A native block needs at least one byte.");
        }

        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "Alignment must be a power of two.");
        }

        _rawLength = checked(length + alignment - 1);
        _raw = (nint)NativeMemory.AllocZeroed(_rawLength);
        Pointer = (byte*)(((nuint)_raw + alignment - 1) & ~(alignment - 1));
        Length = length;
        Interlocked.Add(ref _liveBytes, (long)_rawLength);
        Interlocked.Increment(ref _liveBlocks);
    }

    ~NativeBlock() => Free();

    /// <summary>Start of the usable, aligned memory.</summary>
    public byte* Pointer { get; }

    /// <summary>Usable bytes from <see cref="Pointer"/>.</summary>
    public nuint Length { get; }

    /// <summary>Bytes reserved by all live blocks of this process (alignment slack included).</summary>
    public static long LiveBytes => Volatile.Read(ref _liveBytes);

    /// <summary>Number of live blocks in this process.</summary>
    public static long LiveBlocks => Volatile.Read(ref _liveBlocks);

    /// <summary>Allocates <paramref name="length"/> zeroed bytes aligned to <paramref name="alignment"/>.</summary>
    public static NativeBlock AllocateZeroed(nuint length, nuint alignment = 64) => new(length, alignment);

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        var raw = Interlocked.Exchange(ref _raw, 0);
        if (raw != 0)
        {
            NativeMemory.Free((void*)raw);
            Interlocked.Add(ref _liveBytes, -(long)_rawLength);
            Interlocked.Decrement(ref _liveBlocks);
        }
    }
}
