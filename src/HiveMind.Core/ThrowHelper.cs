using System.Diagnostics.CodeAnalysis;

namespace HiveMind;

/// <summary>Throws out of line so that the hot paths that call these stay small enough to inline.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void AddressOutOfHeap(long address, int size, long heapSize) =>
        throw new SharedAddressException(
            $"Access of {size} byte(s) at global address 0x{address:X} is outside the shared heap [0x0, 0x{heapSize:X}).");

    [DoesNotReturn]
    public static void RangeOutOfHeap(long address, long length, long heapSize) =>
        throw new SharedAddressException(
            $"Range of {length} byte(s) at global address 0x{address:X} is outside the shared heap [0x0, 0x{heapSize:X}).");

    [DoesNotReturn]
    public static void IndexOutOfRange(long index, long count) =>
        throw new IndexOutOfRangeException($"Index {index} is outside the shared array of {count} element(s).");

    [DoesNotReturn]
    public static void ArgumentOutOfRange(string name, object? value, string message) =>
        throw new ArgumentOutOfRangeException(name, value, message);

    [DoesNotReturn]
    public static void InvalidOperation(string message) => throw new InvalidOperationException(message);

    [DoesNotReturn]
    public static void HeapDisposed() =>
        throw new ObjectDisposedException("SharedHeap", "The shared heap was disposed (the drone exited): its memory can no longer be read or written.");
}
