namespace HiveMind.Benchmarks.HandwrittenCodec;

/// <summary>The MessagePack type family of the next value, as <see cref="MessagePackReader.PeekType"/> reports it.</summary>
public enum MessagePackType
{
    Nil,
    Boolean,
    Integer,
    Float,
    String,
    Binary,
    Array,
    Map,
}
