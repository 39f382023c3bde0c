using CommandLine;

namespace HiveMind.Apps.IntegerSort;

/// <summary>Integer sort's own options, on top of every drone's.</summary>
public sealed class IntegerSortOptions : DroneOptions
{
    [Option("keys", Default = 1 << 22, HelpText = "Number of keys to rank.")]
    public int Keys { get; set; } = 1 << 22;

    [Option("max-key", Default = 1 << 15, HelpText = "Keys are in [0, max-key): the number of buckets.")]
    public int MaxKey { get; set; } = 1 << 15;

    [Option("iterations", Default = 10, HelpText = "Timed rankings (each: histograms, their sum under a lock, a barrier, ranks).")]
    public int Iterations { get; set; } = 10;

    [Option("warmup", Default = 1, HelpText = "Untimed rankings first (the sequential run does them too).")]
    public int Warmup { get; set; } = 1;

    [Option("seed", Default = 1, HelpText = "Seed of the keys.")]
    public int Seed { get; set; } = 1;

    [Option("capacity", Default = false, HelpText = "Also measure the machine's capacity in the same run (the sequential ranking on every core at once, each on its own keys) and report the speedup as a fraction of it.")]
    public bool Capacity { get; set; }

    public override void Validate()
    {
        if (Keys < 1 || MaxKey < 1)
        {
            throw new OptionsException($"--keys and --max-key must be at least 1, not {Keys} and {MaxKey}.");
        }

        if (Iterations < 0 || Warmup < 0)
        {
            throw new OptionsException($"--iterations and --warmup must not be negative, not {Iterations} and {Warmup}.");
        }

        base.Validate();
    }
}
