using CommandLine;

namespace HiveMind.Apps.Water;

/// <summary>Water's own options, on top of every drone's.</summary>
public sealed class WaterOptions : AppOptions
{
    [Option("molecules", Default = 4096, HelpText = "Molecules in the box (each drone moves a block of them).")]
    public int Molecules { get; set; } = 4096;

    [Option("steps", Default = 5, HelpText = "Timed time steps (forces, then moves), after one untimed.")]
    public int Steps { get; set; } = 5;

    [Option("groups", Default = 32, HelpText = "Molecules' forces are added under one lock per group of molecules: this many groups (at most --locks and --molecules).")]
    public int Groups { get; set; } = 32;

    public override void Validate()
    {
        if (Molecules < 2 || Steps < 0)
        {
            throw new OptionsException($"--molecules must be at least 2 and --steps not negative, not {Molecules} and {Steps}.");
        }

        if (Groups < 1 || Groups > Locks || Groups > Molecules)
        {
            throw new OptionsException($"--groups {Groups}: 1 to the smaller of --locks ({Locks}) and --molecules ({Molecules}).");
        }

        base.Validate();
    }
}
