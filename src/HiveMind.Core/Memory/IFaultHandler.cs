namespace HiveMind.Memory;

/// <summary>
/// What the heap calls when an access finds a page in a state that does not allow it. The protocol engine
/// implements it; <see cref="LocalFaultHandler"/> is the single-drone one.
/// </summary>
/// <remarks>
/// Runs on the application thread, which blocks until the call returns. On return the page's access must
/// allow the write (ReadWrite) or the read (ReadOnly or better); the heap checks and throws if not.
/// </remarks>
public interface IFaultHandler
{
    /// <summary>Makes <paramref name="page"/> readable, or writable when <paramref name="write"/> is set.</summary>
    void OnFault(SharedHeap heap, int page, bool write);
}
