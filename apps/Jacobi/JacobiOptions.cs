namespace HiveMind.Apps.Jacobi;

/// <summary>Jacobi's options: the grid's (an iteration is a sweep from one grid into the other).</summary>
public sealed class JacobiOptions : GridOptions
{
}
