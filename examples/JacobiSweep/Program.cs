using CommandLine;
using HiveMind;

// Jacobi with barriers: a grid of rows split into bands, one per drone. Each sweep reads the old grid and writes the
// new one; a barrier between sweeps makes every drone's writes (its band) visible to its neighbours, who read only the
// edge rows of it. Drone 0 then checks the grid against the same sweeps done in private memory, bit for bit.
//   dotnet run --project examples/JacobiSweep -- --drones 4 --size 1024 --sweeps 50
return Tmk.Run<JacobiOptions>(args, configure: null, (options, drone) =>
{
    var n = options.Size;

    // Two grids of n*n doubles, each row on whole pages when rows are page-sized: drones write disjoint pages.
    var grids = Tmk.Distribute(Tmk.Id == 0 ? Tmk.Malloc(2L * n * n * sizeof(double), Tmk.PageSize) : 0);
    var a = Tmk.Array<double>(grids, n * n);
    var b = Tmk.Array<double>(grids + ((long)n * n * sizeof(double)), n * n);
    var (first, last) = ((n * Tmk.Id / Tmk.Count), (n * (Tmk.Id + 1) / Tmk.Count));
    for (var row = first; row < last; row++)
    {
        Initial(a.AsSpan(row * n, n), row, n);
        Initial(b.AsSpan(row * n, n), row, n);
    }

    Tmk.Barrier(0);
    for (var sweep = 0; sweep < options.Sweeps; sweep++)
    {
        var (from, to) = sweep % 2 == 0 ? (a, b) : (b, a);
        for (var row = Math.Max(first, 1); row < Math.Min(last, n - 1); row++)
        {
            Sweep(from.AsReadOnlySpan((row - 1) * n, 3 * n), to.AsSpan(row * n, n), n);
        }

        Tmk.Barrier(0);
    }

    if (Tmk.Id != 0)
    {
        return 0;
    }

    // The same sweeps in private memory.
    var (p, q) = (new double[n * n], new double[n * n]);
    for (var row = 0; row < n; row++)
    {
        Initial(p.AsSpan(row * n, n), row, n);
        Initial(q.AsSpan(row * n, n), row, n);
    }

    for (var sweep = 0; sweep < options.Sweeps; sweep++)
    {
        var (from, to) = sweep % 2 == 0 ? (p, q) : (q, p);
        for (var row = 1; row < n - 1; row++)
        {
            Sweep(from.AsSpan((row - 1) * n, 3 * n), to.AsSpan(row * n, n), n);
        }
    }

    var result = options.Sweeps % 2 == 0 ? a : b;
    var expected = options.Sweeps % 2 == 0 ? p : q;
    var wrong = 0;
    for (var i = 0; i < n * n; i++)
    {
        wrong += BitConverter.DoubleToInt64Bits(result[i]) == BitConverter.DoubleToInt64Bits(expected[i]) ? 0 : 1;
    }

    Console.WriteLine($"jacobi {n}x{n}, {options.Sweeps} sweeps on {Tmk.Count} drones: {(wrong == 0 ? "VERIFIED" : $"{wrong} cells WRONG")}");
    return wrong == 0 ? 0 : 1;
});

// A row's starting values: hot top edge, cold elsewhere.
static void Initial(Span<double> row, int index, int n)
{
    row.Fill(index == 0 ? 100.0 : 0.0);
    row[0] = row[n - 1] = 0.0;
}

// One row of a sweep: each inner cell becomes the mean of its four neighbours in the rows above, at and below it.
static void Sweep(ReadOnlySpan<double> around, Span<double> row, int n)
{
    for (var j = 1; j < n - 1; j++)
    {
        row[j] = 0.25 * (around[j] + around[(2 * n) + j] + around[n + j - 1] + around[n + j + 1]);
    }
}

/// <summary>Jacobi's options, beside every drone option.</summary>
internal sealed class JacobiOptions : DroneOptions
{
    [Option("size", Default = 512, HelpText = "Rows and columns of the grid.")]
    public int Size { get; set; } = 512;

    [Option("sweeps", Default = 20, HelpText = "Sweeps over the grid.")]
    public int Sweeps { get; set; } = 20;

    public override void Validate()
    {
        base.Validate();
        if (Size is < 3 or > 16384)
        {
            throw new OptionsException($"--size: must be 3 to 16384, not {Size}.");
        }

        if (Sweeps < 0)
        {
            throw new OptionsException($"--sweeps: must not be negative, not {Sweeps}.");
        }
    }
}
