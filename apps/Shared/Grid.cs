using System.Runtime.InteropServices;

namespace HiveMind.Apps;

/// <summary>Grids of floats, row-major, as the stencil apps (SOR, Jacobi) share them: initial values, bands of rows, the check.</summary>
internal static class Grid
{
    /// <summary>The initial value of a cell: borders 1, the interior a deterministic pseudo-random value in [0, 1).</summary>
    public static float Initial(int row, int col, int rows, int cols, int seed)
    {
        if (row == 0 || col == 0 || row == rows - 1 || col == cols - 1)
        {
            return 1f;
        }

        var h = (uint)((row * 73_856_093) ^ (col * 19_349_663) ^ (seed * 83_492_791));
        h ^= h >> 13;
        h *= 0x5bd1e995;
        h ^= h >> 15;
        return (h & 0xFFFFFF) / (float)(1 << 24);
    }

    /// <summary>The rows [first, end) of the band drone <paramref name="drone"/> of <paramref name="drones"/> updates: interior rows split as evenly as they go.</summary>
    public static (int First, int End) Band(int rows, int drones, int drone)
    {
        var interior = rows - 2;
        return (1 + (int)((long)interior * drone / drones), 1 + (int)((long)interior * (drone + 1) / drones));
    }

    /// <summary>Fills row <paramref name="r"/> of a grid of <paramref name="rows"/> rows with its initial values.</summary>
    public static void Fill(Span<float> row, int r, int rows, int seed)
    {
        for (var c = 0; c < row.Length; c++)
        {
            row[c] = Initial(r, c, rows, row.Length, seed);
        }
    }

    /// <summary>Fills this drone's band of rows of <paramref name="grid"/> with their initial values, and on drone 0 the top and bottom rows.</summary>
    public static void FillBand(SharedArray<float> grid, Drone drone, int rows, int seed)
    {
        var cols = grid.Count / rows;
        var (first, end) = Band(rows, drone.Count, drone.Id);
        for (var r = first; r < end; r++)
        {
            Fill(grid.AsSpan(r * cols, cols), r, rows, seed);
        }

        if (drone.Id == 0)
        {
            Fill(grid.AsSpan(0, cols), 0, rows, seed);
            Fill(grid.AsSpan((rows - 1) * cols, cols), rows - 1, rows, seed);
        }
    }

    /// <summary>A private grid with the initial values, for the sequential baseline.</summary>
    public static float[] Initial(int rows, int cols, int seed)
    {
        var grid = new float[rows * cols];
        for (var r = 0; r < rows; r++)
        {
            Fill(grid.AsSpan(r * cols, cols), r, rows, seed);
        }

        return grid;
    }

    /// <summary>The first cell whose bits differ between the shared grid and the sequential one; null when none does.</summary>
    public static string? Mismatch(ReadOnlySpan<float> shared, float[] expected, int cols)
    {
        var same = MemoryMarshal.Cast<float, int>(shared).CommonPrefixLength(MemoryMarshal.Cast<float, int>(expected.AsSpan()));
        return same == expected.Length ? null : $"cell {same} (row {same / cols}, col {same % cols}) is {shared[same]}, sequential {expected[same]}";
    }
}
