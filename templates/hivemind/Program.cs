using CommandLine;
using HiveMind;

// HiveMindApp: every drone adds its share of 1..count into one shared total under a lock; after a barrier, drone 0
// checks the total. Run it with `dotnet run -- --drones 4` (4 drones on this machine); `--help` lists every option.
//
// Tmk.Run parses the options (this program's and the drones'), starts the drone, runs the body, ends the run, prints
// the run's statistics on drone 0 and turns failures into a message and an exit code (DroneExitCodes): 0 done, 1 the
// program failed, 2 bad options, 3 drone 0 gone, 4 this drone removed, 5 the run could not start, 6 a drone failed.
// Threads: shared memory may be read and written from any thread of a drone between synchronizations, but lock,
// barrier and Distribute calls come from one thread after the others' accesses are done.
return Tmk.Run<AppOptions>(args, configure: null, (options, drone) =>
{
    // Drone 0 allocates the total; Distribute hands every drone its address (every drone calls it).
    var total = Tmk.Distribute(Tmk.Id == 0 ? Tmk.Malloc(sizeof(long)) : 0);

    long mine = 0;
    for (var i = Tmk.Id + 1L; i <= options.Count; i += Tmk.Count)
    {
        mine += i;
    }

    Tmk.LockAcquire(0);
    Tmk.Write(total, Tmk.Read<long>(total) + mine);
    Tmk.LockRelease(0);

    Tmk.Barrier(0); // every drone's share is in
    if (Tmk.Id != 0)
    {
        return 0;
    }

    var sum = Tmk.Read<long>(total);
    var expected = options.Count * (options.Count + 1) / 2;
    Console.WriteLine($"sum of 1..{options.Count} on {Tmk.Count} drones: {sum} ({(sum == expected ? "right" : $"WRONG, expected {expected}")})");
    return sum == expected ? 0 : 1;
});

/// <summary>This program's options; every drone option (--drones, --heap-size, --launcher, ...) comes with them.</summary>
internal sealed class AppOptions : DroneOptions
{
    [Option("count", Default = 1_000_000L, HelpText = "Add up 1..count.")]
    public long Count { get; set; } = 1_000_000;

    public override void Validate()
    {
        base.Validate();
        if (Count is < 1 or > 3_000_000_000)
        {
            throw new OptionsException($"--count: must be 1 to 3000000000 (the sum must fit a long), not {Count}.");
        }
    }
}
