using System.Numerics;
using HiveMind.Allocation;
using HiveMind.Net.Codec;
using MessagePack;

namespace HiveMind.Wire;

/// <summary>A drone's Malloc of <paramref name="Bytes"/> bytes at a multiple of <paramref name="Alignment"/>, asked of drone 0.</summary>
internal sealed record AllocateRequest(long Bytes, int Alignment);

/// <summary>A drone's Free of the block at <paramref name="Address"/>, asked of drone 0.</summary>
internal sealed record FreeRequest(long Address);

/// <summary>Drone 0's answer to an allocation request: the block's address (for a Free, the freed one), or why its allocator refused.</summary>
internal sealed record AllocationReply(long Address, AllocationRefusal? Refusal);

/// <summary>
/// The allocation requests (<see cref="ProtocolCodec.AllocateRequestKind"/>, <see cref="ProtocolCodec.FreeRequestKind"/>)
/// and drone 0's replies. A request is <c>[bytes, alignment]</c> or <c>[address]</c>; a reply is <c>[0, address]</c>, or
/// <c>[kind, message, parameter or nil, value or nil]</c> for a refusal of drone 0's allocator, which the asker throws as
/// the exception a call on drone 0 would throw. Every read checks shapes and values against the heap and the request
/// (a caller checks its arguments before it asks, so a request drone 0 must refuse for them is malformed), and throws
/// <see cref="InvalidDataException"/> for anything else.
/// </summary>
internal static class AllocationCodec
{
    private const int Ok = 0;

    // The longest parameter name a refusal may carry (the allocator's are "bytes", "alignment", "address").
    private const int MaxParamNameLength = 64;

    /// <summary>Writes a Malloc request.</summary>
    public static void Write(ref MessagePackWriter writer, AllocateRequest request)
    {
        writer.WriteArrayHeader(2);
        writer.Write(request.Bytes);
        writer.Write(request.Alignment);
    }

    /// <summary>Writes a Free request.</summary>
    public static void Write(ref MessagePackWriter writer, FreeRequest request)
    {
        writer.WriteArrayHeader(1);
        writer.Write(request.Address);
    }

    /// <summary>Writes drone 0's reply.</summary>
    public static void Write(ref MessagePackWriter writer, AllocationReply reply)
    {
        if (reply.Refusal is not { } refusal)
        {
            writer.WriteArrayHeader(2);
            writer.Write(Ok);
            writer.Write(reply.Address);
            return;
        }

        writer.WriteArrayHeader(4);
        writer.Write((byte)refusal.Kind);
        writer.Write(refusal.Message);
        if (refusal.ParamName is { } name)
        {
            writer.Write(name);
        }
        else
        {
            writer.WriteNil();
        }

        if (refusal.ActualValue is { } value)
        {
            writer.Write(value);
        }
        else
        {
            writer.WriteNil();
        }
    }

    /// <summary>Reads a Malloc request for a heap of <paramref name="heapSize"/> bytes.</summary>
    /// <exception cref="InvalidDataException">The body is not a request a caller would send.</exception>
    public static AllocateRequest ReadAllocateRequest(ref MessagePackReader reader, long heapSize)
    {
        try
        {
            ProtocolCodec.Fields(ref reader, 2, "AllocateRequest");
            var (bytes, alignment) = (reader.ReadInt64(), reader.ReadInt32());
            if (bytes <= 0 || bytes > heapSize)
            {
                throw new InvalidDataException($"AllocateRequest of {bytes} bytes: a caller asks for 1 to {heapSize} (the heap's size)");
            }

            if (alignment <= 0 || !BitOperations.IsPow2(alignment))
            {
                throw new InvalidDataException($"AllocateRequest with alignment {alignment}: a caller asks for a positive power of two");
            }

            return new AllocateRequest(bytes, alignment);
        }
        catch (Exception error) when (MalformedInput.Is(error))
        {
            throw MalformedInput.Wrap(error, "AllocateRequest body", reader.Consumed, reader.Sequence.Length);
        }
    }

    /// <summary>Reads a Free request for a heap of <paramref name="heapSize"/> bytes.</summary>
    /// <exception cref="InvalidDataException">The body is not a request a caller would send.</exception>
    public static FreeRequest ReadFreeRequest(ref MessagePackReader reader, long heapSize)
    {
        try
        {
            ProtocolCodec.Fields(ref reader, 1, "FreeRequest");
            var address = reader.ReadInt64();
            return address >= 0 && address < heapSize
                ? new FreeRequest(address)
                : throw new InvalidDataException($"FreeRequest of address 0x{address:X}, outside the heap [0x0, 0x{heapSize:X})");
        }
        catch (Exception error) when (MalformedInput.Is(error))
        {
            throw MalformedInput.Wrap(error, "FreeRequest body", reader.Consumed, reader.Sequence.Length);
        }
    }

    /// <summary>
    /// Reads drone 0's reply to <paramref name="request"/> in a heap of <paramref name="heapSize"/> bytes: a block that
    /// lies in the heap at the alignment asked, or the refusal of a full heap.
    /// </summary>
    /// <exception cref="InvalidDataException">The body is not such a reply.</exception>
    public static AllocationReply ReadReply(ReadOnlyMemory<byte> body, AllocateRequest request, long heapSize)
    {
        ArgumentNullException.ThrowIfNull(request);
        var reader = new MessagePackReader(body);
        try
        {
            var reply = ReadReply(ref reader, "AllocateRequest", AllocationRefusalKind.Exhausted, AllocationRefusalKind.Exhausted);
            var alignment = Math.Max(request.Alignment, SharedAllocator.Granule);
            if (reply.Refusal is null && (reply.Address < SharedAllocator.Granule || reply.Address % alignment != 0 || reply.Address > heapSize - request.Bytes))
            {
                throw new InvalidDataException(
                    $"reply to AllocateRequest({request.Bytes}, alignment {request.Alignment}) gives address 0x{reply.Address:X}, not a block of the heap [0x0, 0x{heapSize:X}) at that alignment");
            }

            return reply;
        }
        catch (Exception error) when (MalformedInput.Is(error))
        {
            throw MalformedInput.Wrap(error, "reply to AllocateRequest", reader.Consumed, reader.Sequence.Length);
        }
    }

    /// <summary>Reads drone 0's reply to <paramref name="request"/>: the freed address, or the refusal of a double free or of an address that is not a block's start.</summary>
    /// <exception cref="InvalidDataException">The body is not such a reply.</exception>
    public static AllocationReply ReadReply(ReadOnlyMemory<byte> body, FreeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var reader = new MessagePackReader(body);
        try
        {
            var reply = ReadReply(ref reader, "FreeRequest", AllocationRefusalKind.InvalidOperation, AllocationRefusalKind.Argument);
            if (reply.Refusal is null && reply.Address != request.Address)
            {
                throw new InvalidDataException($"reply to FreeRequest(0x{request.Address:X}) frees 0x{reply.Address:X}");
            }

            return reply;
        }
        catch (Exception error) when (MalformedInput.Is(error))
        {
            throw MalformedInput.Wrap(error, "reply to FreeRequest", reader.Consumed, reader.Sequence.Length);
        }
    }

    /// <summary>A reply whose refusal, if any, is of a kind from <paramref name="first"/> to <paramref name="last"/>.</summary>
    private static AllocationReply ReadReply(ref MessagePackReader reader, string what, AllocationRefusalKind first, AllocationRefusalKind last)
    {
        var fields = reader.ReadArrayHeader();
        var kind = reader.ReadByte();
        if (kind == Ok)
        {
            return fields == 2 ? new AllocationReply(reader.ReadInt64(), null) : throw new InvalidDataException($"reply to {what} has {fields} fields, expected 2");
        }

        if (fields != 4)
        {
            throw new InvalidDataException($"refusal of {what} has {fields} fields, expected 4");
        }

        if (kind < (byte)first || kind > (byte)last)
        {
            throw new InvalidDataException($"refusal of {what} of kind {kind}, which drone 0's allocator does not give for it");
        }

        var message = reader.ReadText();
        if (message.Length is 0 or > AllocationRefusal.MaxMessageLength)
        {
            throw new InvalidDataException($"refusal of {what} with a message of {message.Length} characters (1 to {AllocationRefusal.MaxMessageLength})");
        }

        var name = reader.TryReadNil() ? null : reader.ReadText();
        if (name is { Length: 0 or > MaxParamNameLength })
        {
            throw new InvalidDataException($"refusal of {what} naming a parameter of {name.Length} characters (1 to {MaxParamNameLength})");
        }

        long? value = reader.TryReadNil() ? null : reader.ReadInt64();
        return new AllocationReply(0, new AllocationRefusal((AllocationRefusalKind)kind, message, name, value));
    }
}
