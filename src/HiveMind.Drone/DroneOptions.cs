using CommandLine;
using HiveMind.Memory;

namespace HiveMind;

/// <summary>
/// The options every drone program accepts. Apps derive their own options class from this one, so that
/// one command line carries both (see apps/QuickSort). Defaults live here and nowhere else.
/// </summary>
public class DroneOptions
{
    /// <summary>Default number of locks (TreadMarks' MAX_LOCKS).</summary>
    public const int DefaultLocks = 1024;

    /// <summary>Default number of barriers.</summary>
    public const int DefaultBarriers = 64;

    /// <summary>Largest run.</summary>
    public const int MaxDrones = 256;

    [Option("drones", Default = 1, HelpText = "Number of drones in the run; drone 0 (this process) starts the others on this machine.")]
    public int Drones { get; set; } = 1;

    [Option("page-size", Default = HeapOptions.DefaultPageSize, HelpText = "Bytes per shared page: a power of two from 64 to 16777216.")]
    public int PageSize { get; set; } = HeapOptions.DefaultPageSize;

    [Option("heap-size", Default = "1GiB", HelpText = "Bytes of shared heap, a multiple of the page size; suffixes KiB, MiB, GiB. Untouched pages cost no memory.")]
    public string HeapSize { get; set; } = "1GiB";

    [Option("locks", Default = DefaultLocks, HelpText = "Number of locks (ids 0 .. locks-1).")]
    public int Locks { get; set; } = DefaultLocks;

    [Option("barriers", Default = DefaultBarriers, HelpText = "Number of barriers (ids 0 .. barriers-1).")]
    public int Barriers { get; set; } = DefaultBarriers;

    [Option("gc-threshold", Default = "64MiB", HelpText = "Consistency data (interval records, write notices, diffs, twins) one drone may hold before the next barrier collects it; suffixes KiB, MiB, GiB.")]
    public string GcThreshold { get; set; } = "64MiB";

    [Option("quiet", Default = false, HelpText = "Print no statistics table at exit.")]
    public bool Quiet { get; set; }

    /// <summary>The heap shape these options describe; throws <see cref="OptionsException"/> naming the bad option.</summary>
    public HeapOptions ToHeapOptions()
    {
        var heap = new HeapOptions { PageSize = PageSize, HeapSize = ByteSize.Parse(HeapSize, "--heap-size") };
        try
        {
            heap.Validate();
        }
        catch (ArgumentOutOfRangeException error)
        {
            var option = error.ParamName == nameof(HeapOptions.PageSize) ? "--page-size" : "--heap-size";
            throw new OptionsException($"{option}: {error.Message.Split(" (Parameter", 2)[0]}", error);
        }

        return heap;
    }

    /// <summary>Throws <see cref="OptionsException"/> naming the first option whose value is unusable.</summary>
    public virtual void Validate()
    {
        if (Drones < 1)
        {
            throw new OptionsException($"--drones: must be at least 1, not {Drones}.");
        }

        if (Drones > MaxDrones)
        {
            throw new OptionsException($"--drones: at most {MaxDrones}, not {Drones}.");
        }

        if (Locks < 1)
        {
            throw new OptionsException($"--locks: must be at least 1, not {Locks}.");
        }

        if (Barriers < 1)
        {
            throw new OptionsException($"--barriers: must be at least 1, not {Barriers}.");
        }

        _ = ToHeapOptions();
        _ = ByteSize.Parse(GcThreshold, "--gc-threshold");
    }
}
