using CommandLine;
using HiveMind;

// A histogram with a lock: each drone counts its share of the values in private memory, then adds its counts into the
// shared histogram under one lock; after a barrier drone 0 checks the histogram against a count of its own.
//   dotnet run --project examples/Histogram -- --drones 4 --values 10000000
return Tmk.Run<HistogramOptions>(args, configure: null, (options, drone) =>
{
    var histogram = Tmk.Array<long>(Tmk.Distribute(Tmk.Id == 0 ? Tmk.Malloc(options.Buckets * sizeof(long)) : 0), options.Buckets);

    // Private work: this drone's slice of the values (the same pseudo-random sequence on every drone).
    var mine = new long[options.Buckets];
    var (first, last) = Slice(options.Values, Tmk.Id, Tmk.Count);
    for (var i = first; i < last; i++)
    {
        mine[Value(options.Seed, i) % options.Buckets]++;
    }

    // One critical section per drone, not per value: the lock's cost is paid once, and the span writes whole pages.
    Tmk.LockAcquire(0);
    var shared = histogram.AsSpan(0, options.Buckets);
    for (var b = 0; b < mine.Length; b++)
    {
        shared[b] += mine[b];
    }

    Tmk.LockRelease(0);
    Tmk.Barrier(0);

    if (Tmk.Id == 0)
    {
        var expected = new long[options.Buckets];
        for (var i = 0L; i < options.Values; i++)
        {
            expected[Value(options.Seed, i) % options.Buckets]++;
        }

        var wrong = Enumerable.Range(0, options.Buckets).Count(b => histogram[b] != expected[b]);
        Console.WriteLine($"histogram of {options.Values} values in {options.Buckets} buckets on {Tmk.Count} drones: {(wrong == 0 ? "VERIFIED" : $"{wrong} buckets WRONG")}");
        return wrong == 0 ? 0 : 1;
    }

    return 0;
});

// Drone `id`'s share of `count` items: [first, last).
static (long First, long Last) Slice(long count, int id, int drones) => (count * id / drones, count * (id + 1) / drones);

// The i-th value: a hash of (seed, i), the same on every drone.
static int Value(int seed, long i)
{
    var x = (ulong)i + ((ulong)seed * 0x9E3779B97F4A7C15UL);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
    return (int)((x ^ (x >> 31)) & int.MaxValue);
}

/// <summary>The histogram's options, beside every drone option.</summary>
internal sealed class HistogramOptions : DroneOptions
{
    [Option("values", Default = 1_000_000L, HelpText = "How many values to count.")]
    public long Values { get; set; } = 1_000_000;

    [Option("buckets", Default = 1024, HelpText = "How many buckets.")]
    public int Buckets { get; set; } = 1024;

    [Option("seed", Default = 1, HelpText = "Seed of the values.")]
    public int Seed { get; set; } = 1;

    public override void Validate()
    {
        base.Validate();
        if (Values < 0)
        {
            throw new OptionsException($"--values: must not be negative, not {Values}.");
        }

        if (Buckets is < 1 or > 1 << 24)
        {
            throw new OptionsException($"--buckets: must be 1 to {1 << 24}, not {Buckets}.");
        }
    }
}
