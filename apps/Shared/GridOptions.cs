using CommandLine;

namespace HiveMind.Apps;

/// <summary>The options of the stencil apps (SOR, Jacobi) on a grid of floats, on top of every drone's.</summary>
public abstract class GridOptions : AppOptions
{
    [Option("rows", Default = 2048, HelpText = "Rows of the grid (the drones take bands of rows).")]
    public int Rows { get; set; } = 2048;

    [Option("cols", Default = 1024, HelpText = "Columns of the grid.")]
    public int Cols { get; set; } = 1024;

    [Option("iterations", Default = 50, HelpText = "Timed iterations.")]
    public int Iterations { get; set; } = 50;

    [Option("warmup", Default = 2, HelpText = "Untimed iterations first (the sequential run does them too), so that the timed ones do not include compiling the protocol's paths.")]
    public int Warmup { get; set; } = 2;

    public override void Validate()
    {
        if (Rows < 3 || Cols < 3)
        {
            throw new OptionsException($"--rows and --cols: the grid needs at least 3 x 3 cells, not {Rows} x {Cols}.");
        }

        if ((long)Rows * Cols > int.MaxValue)
        {
            throw new OptionsException($"--rows {Rows} x --cols {Cols}: at most {int.MaxValue} cells.");
        }

        if (Iterations < 0 || Warmup < 0)
        {
            throw new OptionsException($"--iterations and --warmup must not be negative, not {Iterations} and {Warmup}.");
        }

        base.Validate();
    }
}
