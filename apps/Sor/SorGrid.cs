namespace HiveMind.Apps.Sor;

/// <summary>
/// The red-black SOR computation on one grid of floats, row-major, the same for the drones (on shared memory) and for
/// the sequential baseline (on a private array): a cell's new value is the average of its four neighbours, red cells
/// ((row + col) even) first, then black ones, borders fixed. A half-sweep reads only cells of the other colour, so the
/// result does not depend on how rows are split between drones: drones and sequential agree bit for bit.
/// </summary>
internal static class SorGrid
{
    /// <summary>Updates the cells of <paramref name="color"/> (0 red, 1 black) of one interior row from the rows around it.</summary>
    public static void HalfSweepRow(ReadOnlySpan<float> above, Span<float> row, ReadOnlySpan<float> below, int rowIndex, int color)
    {
        var first = 1 + ((rowIndex + 1 + color) & 1);
        for (var c = first; c < row.Length - 1; c += 2)
        {
            row[c] = (above[c] + below[c] + row[c - 1] + row[c + 1]) * 0.25f;
        }
    }

    /// <summary>The sequential baseline: <paramref name="iterations"/> red and black half-sweeps over the whole grid.</summary>
    public static void Sequential(float[] grid, int rows, int cols, int iterations)
    {
        for (var i = 0; i < iterations; i++)
        {
            for (var color = 0; color < 2; color++)
            {
                for (var r = 1; r < rows - 1; r++)
                {
                    HalfSweepRow(grid.AsSpan((r - 1) * cols, cols), grid.AsSpan(r * cols, cols), grid.AsSpan((r + 1) * cols, cols), r, color);
                }
            }
        }
    }
}
