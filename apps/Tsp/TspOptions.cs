using CommandLine;

namespace HiveMind.Apps.Tsp;

/// <summary>TSP's own options, on top of every drone's.</summary>
public sealed class TspOptions : AppOptions
{
    [Option("cities", Default = 17, HelpText = "Cities of the tour (random points; 4 to 24).")]
    public int Cities { get; set; } = 17;

    [Option("split-depth", Default = 3, HelpText = "Partial tours of fewer cities than this go back to the shared queue as their extensions; longer ones are searched by the drone that took them.")]
    public int SplitDepth { get; set; } = 3;

    public override void Validate()
    {
        if (Cities is < 4 or > 24)
        {
            throw new OptionsException($"--cities: 4 to 24, not {Cities}.");
        }

        if (SplitDepth < 1 || SplitDepth >= Cities)
        {
            throw new OptionsException($"--split-depth: 1 to {Cities - 1} (fewer than --cities), not {SplitDepth}.");
        }

        if (TspApp.StackCapacity(Cities, SplitDepth) > TspApp.MaxStack)
        {
            throw new OptionsException(
                $"--split-depth {SplitDepth} with {Cities} cities: up to {TspApp.StackCapacity(Cities, SplitDepth):N0} partial tours at once, more than the {TspApp.MaxStack:N0} the shared stack holds; give a smaller --split-depth.");
        }

        base.Validate();
    }
}
