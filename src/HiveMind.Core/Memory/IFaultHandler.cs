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

/// <summary>
/// A fault handler that can fault in a range of pages at once (a span access), for example to ask for the
/// missing data of all of them in one round of requests. The heap calls it when an access covers several pages.
/// </summary>
public interface IRangeFaultHandler : IFaultHandler
{
    /// <summary>Makes pages <paramref name="first"/>..<paramref name="last"/> readable, or writable when <paramref name="write"/> is set.</summary>
    void OnFaults(SharedHeap heap, int first, int last, bool write);
}
