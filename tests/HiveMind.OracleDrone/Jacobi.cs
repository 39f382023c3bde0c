using System.Globalization;

namespace HiveMind.OracleDrone;

/// <summary>
/// Jacobi relaxation as a user would first write it: a grid in shared memory, row bands per drone, two barriers per
/// sweep, no failure handling of its own. Drone 0 checks the grid against the same sweeps done sequentially in private
/// memory (bit for bit: the same operations in the same order). With a crash point, that drone throws at that sweep, as
/// a program with a bug would: the run must then stop with the drone named, never print a result.
/// </summary>
internal static class Jacobi
{
    private const int Size = 128;
    private const int Sweeps = 10;

    public static void Run(Drone drone, string? crashAt)
    {
        var (crashDrone, crashSweep) = ParseCrash(crashAt);
        var grids = drone.Distribute(drone.Id == 0 ? drone.Malloc(2L * Size * Size * sizeof(double), drone.Heap.PageSize) : 0);
        var a = drone.Array<double>(grids, Size * Size);
        var b = drone.Array<double>(grids + (8L * Size * Size), Size * Size);
        if (drone.Id == 0)
        {
            Initial().CopyTo(a.AsSpan());
            Initial().CopyTo(b.AsSpan());
        }

        drone.Barrier(0);
        var (first, last) = Band(drone.Id, drone.Count);
        for (var sweep = 0; sweep < Sweeps; sweep++)
        {
            if (drone.Id == crashDrone && sweep == crashSweep)
            {
                throw new InvalidOperationException($"drone {drone.Id}: a bug in sweep {sweep} (injected with --crash-at)");
            }

            var (from, to) = sweep % 2 == 0 ? (a, b) : (b, a);
            for (var row = Math.Max(first, 1); row < Math.Min(last, Size - 1); row++)
            {
                var above = from.AsReadOnlySpan((row - 1) * Size, Size).ToArray();
                var here = from.AsReadOnlySpan(row * Size, Size).ToArray();
                var below = from.AsReadOnlySpan((row + 1) * Size, Size).ToArray();
                var output = to.AsSpan(row * Size, Size);
                for (var col = 1; col < Size - 1; col++)
                {
                    output[col] = 0.25 * (above[col] + below[col] + here[col - 1] + here[col + 1]);
                }
            }

            drone.Barrier(1);
        }

        if (drone.Id == 0)
        {
            var expected = Sequential();
            var result = (Sweeps % 2 == 0 ? a : b).AsReadOnlySpan().ToArray();
            for (var i = 0; i < result.Length; i++)
            {
                if (BitConverter.DoubleToInt64Bits(result[i]) != BitConverter.DoubleToInt64Bits(expected[i]))
                {
                    throw new InvalidOperationException($"drone 0: cell ({i / Size}, {i % Size}) holds {result[i]}, the sequential sweeps give {expected[i]}");
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"JACOBI sum={result.Sum():R} verified=1"));
        }

        drone.Barrier(2);
    }

    private static (int First, int Last) Band(int drone, int drones) => (drone * Size / drones, (drone + 1) * Size / drones);

    private static double[] Initial()
    {
        var grid = new double[Size * Size];
        for (var col = 0; col < Size; col++)
        {
            grid[col] = 100.0; // a hot top edge
        }

        return grid;
    }

    private static double[] Sequential()
    {
        var (from, to) = (Initial(), Initial());
        for (var sweep = 0; sweep < Sweeps; sweep++)
        {
            for (var row = 1; row < Size - 1; row++)
            {
                for (var col = 1; col < Size - 1; col++)
                {
                    to[(row * Size) + col] = 0.25 * (from[((row - 1) * Size) + col] + from[((row + 1) * Size) + col] + from[(row * Size) + col - 1] + from[(row * Size) + col + 1]);
                }
            }

            (from, to) = (to, from);
        }

        return from;
    }

    private static (int Drone, int Sweep) ParseCrash(string? text)
    {
        if (text is null)
        {
            return (-1, -1);
        }

        var parts = text.Split(':');
        return parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var drone) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var sweep)
            ? (drone, sweep)
            : throw new OptionsException($"--crash-at: '{text}' is not DRONE:SWEEP.");
    }
}
