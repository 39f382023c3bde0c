namespace HiveMind.Net.Transport;

/// <summary>
/// Messages and bytes sent and received on one link, by message kind. Each direction has one writer at a time (sent:
/// whichever thread holds the link's socket for writing; received: the receive loop); readers see values that are at
/// most a frame behind.
/// </summary>
internal sealed class LinkCounters
{
    private long _longestSilence;

    /// <summary>The longest silence the heartbeat checks saw on the link while its receive loop was listening, in milliseconds.</summary>
    public long LongestSilenceMs => Volatile.Read(ref _longestSilence);

    /// <summary>Notes a silence of <paramref name="milliseconds"/> (the heartbeat thread's own).</summary>
    internal void NoteSilence(long milliseconds)
    {
        if (milliseconds > Volatile.Read(ref _longestSilence))
        {
            Volatile.Write(ref _longestSilence, milliseconds);
        }
    }

    private readonly long[] _sentMessages = new long[256];
    private readonly long[] _sentBytes = new long[256];
    private readonly long[] _receivedMessages = new long[256];
    private readonly long[] _receivedBytes = new long[256];

    public long SentMessages(byte kind) => Volatile.Read(ref _sentMessages[kind]);

    public long SentBytes(byte kind) => Volatile.Read(ref _sentBytes[kind]);

    public long ReceivedMessages(byte kind) => Volatile.Read(ref _receivedMessages[kind]);

    public long ReceivedBytes(byte kind) => Volatile.Read(ref _receivedBytes[kind]);

    /// <summary>Messages sent, all kinds.</summary>
    public long TotalSentMessages => Sum(_sentMessages);

    /// <summary>Bytes sent, all kinds, prefixes included.</summary>
    public long TotalSentBytes => Sum(_sentBytes);

    /// <summary>Messages received, all kinds.</summary>
    public long TotalReceivedMessages => Sum(_receivedMessages);

    /// <summary>Bytes received, all kinds, prefixes included.</summary>
    public long TotalReceivedBytes => Sum(_receivedBytes);

    internal void CountSent(byte kind, int bytes)
    {
        Volatile.Write(ref _sentMessages[kind], _sentMessages[kind] + 1);
        Volatile.Write(ref _sentBytes[kind], _sentBytes[kind] + bytes);
    }

    internal void CountReceived(byte kind, int bytes)
    {
        Volatile.Write(ref _receivedMessages[kind], _receivedMessages[kind] + 1);
        Volatile.Write(ref _receivedBytes[kind], _receivedBytes[kind] + bytes);
    }

    private static long Sum(long[] values)
    {
        long total = 0;
        for (var i = 0; i < values.Length; i++)
        {
            total += Volatile.Read(ref values[i]);
        }

        return total;
    }
}
