namespace HiveMind.Allocation;

/// <summary>The type of exception an <see cref="AllocationRefusal"/> stands for.</summary>
internal enum AllocationRefusalKind : byte
{
    /// <summary>A <see cref="SharedHeapExhaustedException"/>: no free block holds the request.</summary>
    Exhausted = 1,

    /// <summary>An <see cref="InvalidOperationException"/> (a double free).</summary>
    InvalidOperation = 2,

    /// <summary>An <see cref="ArgumentException"/> (a free of an address that is not a block's start).</summary>
    Argument = 3,

    /// <summary>An <see cref="ArgumentOutOfRangeException"/> (a bad size or alignment, an address outside the heap).</summary>
    ArgumentOutOfRange = 4,
}

/// <summary>
/// Why the allocator refused a Malloc or Free, as values that travel between drones: another drone's Malloc and Free are
/// served by drone 0's allocator, and the caller throws what a call on drone 0 would have thrown, type and message.
/// </summary>
/// <param name="Kind">The type of the exception.</param>
/// <param name="Message">Its message, without the parameter's name (which the exception adds).</param>
/// <param name="ParamName">The parameter at fault, for the argument exceptions.</param>
/// <param name="ActualValue">The value at fault, for an <see cref="ArgumentOutOfRangeException"/> that names it.</param>
internal sealed record AllocationRefusal(AllocationRefusalKind Kind, string Message, string? ParamName = null, long? ActualValue = null)
{
    /// <summary>The most characters of a refusal's message and parameter name that a drone takes from another.</summary>
    public const int MaxMessageLength = 4096;

    /// <summary>The exception a local call throws for this refusal.</summary>
    public Exception ToException() => Kind switch
    {
        AllocationRefusalKind.Exhausted => new SharedHeapExhaustedException(Message),
        AllocationRefusalKind.InvalidOperation => new InvalidOperationException(Message),
        AllocationRefusalKind.Argument => new ArgumentException(Message, ParamName),
        AllocationRefusalKind.ArgumentOutOfRange when ActualValue is { } value => new ArgumentOutOfRangeException(ParamName, value, Message),
        AllocationRefusalKind.ArgumentOutOfRange => new ArgumentOutOfRangeException(ParamName, Message),
        _ => new InvalidOperationException($"allocation refusal of unknown kind {(byte)Kind}: {Message}"),
    };
}
