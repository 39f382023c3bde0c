using CommandLine;

namespace HiveMind.Apps.IntegerSort;

/// <summary>Integer sort's own options, on top of every drone's.</summary>
public sealed class IntegerSortOptions : AppOptions
{
    [Option("keys", Default = 1 << 22, HelpText = "Number of keys to rank.")]
    public int Keys { get; set; } = 1 << 22;

    [Option("max-key", Default = 1 << 15, HelpText = "Keys are in [0, max-key): the number of buckets.")]
    public int MaxKey { get; set; } = 1 << 15;

    [Option("iterations", Default = 10, HelpText = "Timed rankings (each: histograms, their sum under a lock, a barrier, ranks).")]
    public int Iterations { get; set; } = 10;

    [Option("warmup", Default = 1, HelpText = "Untimed rankings first (the sequential run does them too).")]
    public int Warmup { get; set; } = 1;

    public override void Validate()
    {
        if (Keys < 1 || MaxKey < 1)
        {
            throw new OptionsException($"--keys and --max-key must be at least 1, not {Keys} and {MaxKey}.");
        }

        if (Iterations < 1 || Warmup < 0)
        {
            throw new OptionsException($"--iterations must be at least 1 and --warmup not negative, not {Iterations} and {Warmup}.");
        }

        base.Validate();
    }
}
