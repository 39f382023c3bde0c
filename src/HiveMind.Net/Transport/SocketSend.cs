using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace HiveMind.Net.Transport;

/// <summary>
/// A send that never waits, on a socket that stays blocking for receives: send(2) with MSG_DONTWAIT on Linux and the
/// BSDs (macOS included). A receive thread then blocks in one receive call, as a blocking socket allows, while a thread
/// that must not wait can still try a write. Elsewhere <see cref="Supported"/> is false and links use non-blocking
/// sockets instead.
/// </summary>
internal static unsafe partial class SocketSend
{
    private static readonly int DontWait = OperatingSystem.IsLinux() ? 0x40 : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 0x80 : 0;
    private static readonly int WouldBlock = OperatingSystem.IsLinux() ? 11 : 35; // EAGAIN (= EWOULDBLOCK)
    private const int Interrupted = 4; // EINTR

    /// <summary>Whether this platform has the flag.</summary>
    public static bool Supported => DontWait != 0;

    /// <summary>Writes what the socket takes of <paramref name="bytes"/> without waiting; 0 when it would block.</summary>
    /// <exception cref="SocketException">The send failed (the peer reset the connection, say).</exception>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static int TrySend(Socket socket, ReadOnlySpan<byte> bytes)
    {
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            // Holds the descriptor: a close on another thread cannot hand its number to another socket meanwhile.
            handle.DangerousAddRef(ref added);
            fixed (byte* buffer = bytes)
            {
                while (true)
                {
                    var sent = Send((int)handle.DangerousGetHandle(), buffer, (nuint)bytes.Length, DontWait);
                    if (sent >= 0)
                    {
                        return (int)sent;
                    }

                    var error = Marshal.GetLastPInvokeError();
                    if (error == WouldBlock)
                    {
                        return 0;
                    }

                    if (error != Interrupted)
                    {
                        throw new SocketException(ErrorOf(error));
                    }
                }
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    // The errno values a send on a connected stream socket meets, as .NET's SocketError.
    private static int ErrorOf(int errno) => errno switch
    {
        32 => (int)SocketError.Shutdown, // EPIPE
        104 or 54 => (int)SocketError.ConnectionReset, // ECONNRESET (Linux, BSD)
        110 or 60 => (int)SocketError.TimedOut, // ETIMEDOUT
        9 => (int)SocketError.OperationAborted, // EBADF
        _ => (int)SocketError.SocketError,
    };

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint Send(int socket, byte* buffer, nuint length, int flags);
}
