namespace HiveMind.Memory;

/// <summary>
/// The software stand-in for mprotect: what the local copy of a page allows. The fast path reads this byte;
/// only the application thread of a drone changes it.
/// </summary>
public enum PageAccess : byte
{
    /// <summary>Invalid: a read or write runs the fault handler first.</summary>
    NoAccess = 0,

    /// <summary>Valid for reading; a write runs the fault handler (twin, write notice).</summary>
    ReadOnly = 1,

    /// <summary>Valid for reading and writing in the current interval.</summary>
    ReadWrite = 2,
}
