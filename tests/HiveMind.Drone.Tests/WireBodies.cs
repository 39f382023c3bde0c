using System.Buffers;
using HiveMind.Net.Transport;
using MessagePack;

namespace HiveMind.DroneTests;

/// <summary>Message bodies as the wire carries them, for the codec tests.</summary>
internal static class WireBodies
{
    /// <summary>The bytes <paramref name="write"/> makes of <paramref name="value"/>.</summary>
    public static byte[] Of<T>(T value, BodyWriter<T> write)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        write(ref writer, value);
        writer.Flush();
        return output.WrittenSpan.ToArray();
    }
}
