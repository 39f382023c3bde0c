using CommandLine;

namespace HiveMind.Apps;

/// <summary>The options every app has, on top of every drone's: the seed of its input and the capacity baseline.</summary>
public abstract class AppOptions : DroneOptions
{
    [Option("seed", Default = 1, HelpText = "Seed of the input.")]
    public int Seed { get; set; } = 1;

    [Option("capacity", Default = false, HelpText = "Also measure the machine's capacity in the same run (the sequential computation on every core at once, each on its own copy of the data) and report the speedup as a fraction of it.")]
    public bool Capacity { get; set; }
}
