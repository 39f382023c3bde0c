using HiveMind.Net.Codec;
using MessagePack;

namespace HiveMind.Wire;

/// <summary>
/// A signaller's word to a drone that one of its threads waits on a condition no longer (<see cref="Drone.LockCondSignal"/>,
/// <see cref="Drone.LockCondBroadcast"/>): the condition and the ticket the waiting thread put in the condition's queue.
/// One-way, drone to drone; not a protocol message of the engine.
/// </summary>
/// <param name="Condition">The condition id.</param>
/// <param name="Ticket">The waiting thread's ticket.</param>
internal readonly record struct ConditionWake(int Condition, ulong Ticket)
{
    /// <summary>Writes the wake as <c>[condition, ticket]</c>.</summary>
    public static void Write(ref MessagePackWriter writer, ConditionWake wake)
    {
        writer.WriteArrayHeader(2);
        writer.Write(wake.Condition);
        writer.Write(wake.Ticket);
    }

    /// <summary>Reads a wake of a run whose condition ids are 0 .. <paramref name="conditions"/> - 1.</summary>
    /// <exception cref="InvalidDataException">The body is not a wake, or names a condition outside the run's.</exception>
    public static ConditionWake Read(ref MessagePackReader reader, int conditions)
    {
        try
        {
            ProtocolCodec.Fields(ref reader, 2, "ConditionWake");
            var condition = reader.ReadInt32();
            if ((uint)condition >= (uint)conditions)
            {
                throw new InvalidDataException($"ConditionWake of condition {condition}, outside the run's {conditions} condition(s) (ids 0 .. {conditions - 1})");
            }

            return new ConditionWake(condition, reader.ReadUInt64());
        }
        catch (Exception error) when (error is not InvalidDataException && MalformedInput.Is(error))
        {
            throw MalformedInput.Wrap(error, "ConditionWake body", reader.Consumed, reader.Sequence.Length);
        }
    }
}
