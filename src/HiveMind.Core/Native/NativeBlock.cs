using System.Runtime.InteropServices;

namespace HiveMind.Native;

/// <summary>
/// Owns one block of native memory: allocates it zeroed and aligned, counts its bytes in
/// <see cref="LiveBytes"/>, and frees it exactly once. Every native allocation of HiveMind goes through it.
/// </summary>
/// <remarks>
/// A large block (1 MiB or more) is reserved with mmap, anonymous and MAP_NORESERVE on Linux, so that the OS commits
/// a page only when it is first written and reserves no swap for the rest: a heap of 1 TiB starts on a machine with far
/// less memory, and an untouched part of it costs nothing. A reservation the OS refuses is an
/// <see cref="InsufficientMemoryException"/> naming the size, never an abort. Small blocks, and every block where mmap
/// is not at hand, come from <see cref="NativeMemory.AllocZeroed(nuint)"/> (calloc) with room to align them by hand.
/// SAFETY: <see cref="Pointer"/> is valid from construction until <see cref="Dispose"/>; users must not keep
/// it past that. The finalizer frees a block that was never disposed, so holders of the pointer must also
/// hold a reference to the block (or its owner).
/// </remarks>
internal sealed unsafe partial class NativeBlock : IDisposable
{
    private const nuint MappedFrom = 1 << 20;

    private static long _liveBytes;
    private static long _liveBlocks;

    private nint _raw;
    private readonly nuint _rawLength;
    private readonly bool _mapped;

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
        if (length >= MappedFrom && Mmap.Supported)
        {
            _raw = Mmap.Reserve(_rawLength);
            _mapped = true;
        }
        else
        {
            _raw = (nint)NativeMemory.AllocZeroed(_rawLength);
        }

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
    /// <exception cref="InsufficientMemoryException">The OS refused to reserve the block; the message names its size.</exception>
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
            if (_mapped)
            {
                Mmap.Release(raw, _rawLength);
            }
            else
            {
                NativeMemory.Free((void*)raw);
            }

            Interlocked.Add(ref _liveBytes, -(long)_rawLength);
            Interlocked.Decrement(ref _liveBlocks);
        }
    }

    /// <summary>Anonymous private mappings through libc's mmap and munmap (Linux, macOS, FreeBSD).</summary>
    private static partial class Mmap
    {
        private const int ProtReadWrite = 0x1 | 0x2;

        // MAP_PRIVATE | MAP_ANONYMOUS, plus MAP_NORESERVE where it exists (Linux; 0x40 on POWER): no swap is set aside.
        private static readonly int Flags = OperatingSystem.IsLinux()
            ? 0x02 | 0x20 | (RuntimeInformation.ProcessArchitecture is Architecture.Ppc64le ? 0x40 : 0x4000)
            : 0x0002 | 0x1000;

        public static bool Supported => OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD();

        public static nint Reserve(nuint length)
        {
            var address = Map(0, length, ProtReadWrite, Flags, -1, 0);
            if (address == -1)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new InsufficientMemoryException(
                    $"The OS refused to reserve {length} bytes ({FormatBytes(length)}) of address space (mmap errno {errno}): give a smaller --heap-size, or raise the limit on virtual memory (ulimit -v).");
            }

            return address;
        }

        public static void Release(nint address, nuint length) => _ = Unmap(address, length);

        private static string FormatBytes(nuint length) =>
            length >= 1UL << 40 ? $"{length / (double)(1UL << 40):0.##} TiB" : length >= 1UL << 30 ? $"{length / (double)(1UL << 30):0.##} GiB" : $"{length / (double)(1UL << 20):0.##} MiB";

        [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
        private static partial nint Map(nint address, nuint length, int protection, int flags, int descriptor, nint offset);

        [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
        private static partial int Unmap(nint address, nuint length);
    }
}
