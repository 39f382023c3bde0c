using CommandLine;

namespace HiveMind.DroneTests;

/// <summary>A program's own options beside the drone options, as README's "Write your own program" shows them.</summary>
public sealed class OwnOptionsTests
{
    [Fact]
    public void OwnOptions_ParseBesideTheDroneOptions_LongShortAndDefaults()
    {
        var options = Tmk.ParseOptions<SortOptions>(["--count", "500", "-s", "9", "--drones", "3", "--heap-size", "64MiB"]);
        Assert.Equal((500L, 9, 3, "64MiB"), (options.Count, options.Seed, options.Drones, options.HeapSize));
        Assert.Equal(1_000_000L, Tmk.ParseOptions<SortOptions>([]).Count);
    }

    [Fact]
    public void OwnOptions_ValidatedByTheProgram_AreRefusedNamingTheOption()
    {
        var error = Assert.Throws<OptionsException>(() => Tmk.ParseOptions<SortOptions>(["--count", "-4"]));
        Assert.Equal("--count: must be at least 1, not -4.", error.Message);
        var unknown = Assert.Throws<OptionsException>(() => Tmk.ParseOptions<SortOptions>(["--cuont", "4"]));
        Assert.Contains("--cuont: unknown option (see --help).", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AOneLetterLongName_IsRefusedNamingThePropertyAndTheWayToWriteIt()
    {
        // The parser itself throws InvalidOperationException("Long name should be longer than one character") from inside.
        var error = Assert.Throws<OptionsException>(() => Tmk.ParseOptions<OneLetterOptions>(["--n", "5"]));
        Assert.Contains("OneLetterOptions.N: [Option(\"n\")] gives a long name of one letter", error.Message, StringComparison.Ordinal);
        Assert.Contains("[Option('n', \"name\")] for -n", error.Message, StringComparison.Ordinal);
    }

    public sealed class SortOptions : DroneOptions
    {
        [Option("count", Default = 1_000_000L, HelpText = "Elements to sort.")]
        public long Count { get; set; } = 1_000_000;

        [Option('s', "sort-seed", Default = 1, HelpText = "Seed of the data.")]
        public int Seed { get; set; } = 1;

        public override void Validate()
        {
            base.Validate();
            if (Count < 1)
            {
                throw new OptionsException($"--count: must be at least 1, not {Count}.");
            }
        }
    }

    public sealed class OneLetterOptions : DroneOptions
    {
        [Option("n", Default = 3)]
        public int N { get; set; } = 3;
    }
}
