namespace HiveMind.Apps.Sor;

/// <summary>Red-black SOR's options: the grid's (an iteration is a red and a black half-sweep).</summary>
public sealed class SorOptions : GridOptions
{
}
