using CommandLine;

namespace HiveMind.Apps.QuickSort;

/// <summary>QuickSort's own options, on top of every drone's.</summary>
public sealed class QuickSortOptions : AppOptions
{
    [Option("count", Default = 4_194_304, HelpText = "Number of ints to sort.")]
    public int Count { get; set; } = 4_194_304;

    [Option("threshold", Default = 4096, HelpText = "Ranges of at most this many elements are sorted locally instead of partitioned.")]
    public int Threshold { get; set; } = 4096;

    [Option("share-above", Default = 0, HelpText = "Parts of at least this many elements go back to the shared queue; smaller ones stay with the drone that made them. 0: count / (drones x 16).")]
    public int ShareAbove { get; set; }

    [Option("no-warmup", Default = false, HelpText = "Skip the untimed warm-up: by default the drones first sort a small array, so that the timed sort does not include compiling the protocol's code paths.")]
    public bool NoWarmup { get; set; }

    [Option("no-progress", Default = false, HelpText = "Do not draw the progress bar.")]
    public bool NoProgress { get; set; }

    [Option("stall-at", HelpText = "Failure testing: POINT:DRONE:NTH makes that drone stop for good (until killed) the NTH time it reaches POINT (queue-lock, partition or barrier).")]
    public string? StallAt { get; set; }

    [Option("say-phases", Default = false, HelpText = "Testing and benchmarks: each drone prints 'PHASE drone=ID sort pid=PID' as the timed sort starts.")]
    public bool SayPhases { get; set; }

    [Option("await-joiners", Default = 0, HelpText = "Drone 0 waits (up to 60 s) until this many drones have asked to join (--join) before the timed sort starts, so that they take part in it. Needs --max-drones.")]
    public int AwaitJoiners { get; set; }

    public override void Validate()
    {
        if (Count < 1)
        {
            throw new OptionsException($"--count: must be at least 1, not {Count}.");
        }

        if (Threshold < 16)
        {
            throw new OptionsException($"--threshold: must be at least 16, not {Threshold}.");
        }

        if (ShareAbove < 0)
        {
            throw new OptionsException($"--share-above: must not be negative, not {ShareAbove}.");
        }

        if (AwaitJoiners < 0 || (AwaitJoiners > 0 && Drones + AwaitJoiners > Slots))
        {
            throw new OptionsException($"--await-joiners {AwaitJoiners}: the run has room for {Slots - Drones} joiner(s) (--max-drones {Slots}, --drones {Drones}).");
        }

        if (StallAt is not null)
        {
            _ = Stall.Parse(StallAt);
        }

        base.Validate();
        var pageSize = ToHeapOptions().PageSize;
        var needed = QuickSortLayout.BytesNeeded(Count, Threshold, Slots, pageSize)
            + (NoWarmup ? 0 : QuickSortLayout.BytesNeeded(QuickSortApp.WarmupCount(Count), Threshold, Slots, pageSize));
        var heap = ToHeapOptions().HeapSize;
        if (needed > heap)
        {
            throw new OptionsException(
                $"--count {Count}: the array and task queue need {needed} bytes of shared heap, but --heap-size gives {heap}.");
        }
    }
}
