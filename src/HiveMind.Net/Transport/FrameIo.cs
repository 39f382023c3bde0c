using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace HiveMind.Net.Transport;

/// <summary>Blocking reads of whole frames from a socket, the length validated before anything is allocated.</summary>
internal static class FrameIo
{
    /// <summary>
    /// Reads one frame into <paramref name="buffer"/> (a pooled array, replaced by a larger pooled one when
    /// needed). Returns the body length, or -1 at a clean end of stream. Throws <see cref="InvalidDataException"/>
    /// for a length prefix of 0 or above <paramref name="maxFrameBytes"/>.
    /// </summary>
    public static int ReadFrame(Socket socket, ref byte[] buffer, int maxFrameBytes)
    {
        Span<byte> prefix = stackalloc byte[FrameBuffer.PrefixBytes];
        if (!ReadExactly(socket, prefix, allowEndAtStart: true))
        {
            return -1;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(prefix);
        if (length == 0 || length > (uint)maxFrameBytes)
        {
            throw new InvalidDataException($"frame length {length} is outside 1..{maxFrameBytes}");
        }

        if (buffer.Length < length)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = ArrayPool<byte>.Shared.Rent((int)length);
        }

        ReadExactly(socket, buffer.AsSpan(0, (int)length), allowEndAtStart: false);
        return (int)length;
    }

    private static bool ReadExactly(Socket socket, Span<byte> destination, bool allowEndAtStart)
    {
        var read = 0;
        while (read < destination.Length)
        {
            var n = socket.Receive(destination[read..]);
            if (n == 0)
            {
                if (read == 0 && allowEndAtStart)
                {
                    return false;
                }

                throw new InvalidDataException($"connection ended inside a frame ({read} of {destination.Length} bytes)");
            }

            read += n;
        }

        return true;
    }
}
