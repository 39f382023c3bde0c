namespace HiveMind.Apps.Water;

/// <summary>
/// The n-body step of the Water program of TreadMarks' suite, shared by the drones and the sequential baseline:
/// molecules in a box, a soft pair force between those closer than a cut-off (each pair once, the force on both), then
/// a move of every molecule by its velocity. Sums of forces run in another order on the drones (each drone's
/// contributions, in the order the drones take the locks), so results agree to rounding, not bit for bit.
/// </summary>
internal static class Molecules
{
    public const double TimeStep = 1e-3;
    private const double CutOff2 = 2.5 * 2.5;

    /// <summary>Places and velocities (x, y, z each) from the seed, the same wherever they are made.</summary>
    public static (double[] Places, double[] Velocities) Initial(int molecules, int seed)
    {
        var random = new Random(seed);
        var side = Math.Cbrt(molecules) * 1.5;
        var places = new double[3 * molecules];
        var velocities = new double[3 * molecules];
        for (var k = 0; k < places.Length; k++)
        {
            places[k] = random.NextDouble() * side;
            velocities[k] = (random.NextDouble() - 0.5) * 0.1;
        }

        return (places, velocities);
    }

    /// <summary>
    /// Adds the forces of the pairs of molecules i in [first, end) to <paramref name="forces"/> (both ends). As in
    /// TreadMarks' Water, molecule i takes the pairs with the next half of the molecules around the ring (j = i + 1 ..
    /// i + n/2, wrapping), so every pair is taken once and every molecule has as many: blocks of molecules cost the same.
    /// </summary>
    public static void PairForces(ReadOnlySpan<double> places, int first, int end, Span<double> forces)
    {
        var molecules = places.Length / 3;
        var half = molecules / 2;
        for (var i = first; i < end; i++)
        {
            var (xi, yi, zi) = (places[3 * i], places[(3 * i) + 1], places[(3 * i) + 2]);
            for (var k = 1; k <= half; k++)
            {
                // With an even count the pair half-way round is reached from both ends: the lower one takes it.
                if (k == half && molecules % 2 == 0 && i >= half)
                {
                    break;
                }

                var j = i + k < molecules ? i + k : i + k - molecules;
                var (dx, dy, dz) = (places[3 * j] - xi, places[(3 * j) + 1] - yi, places[(3 * j) + 2] - zi);
                var r2 = (dx * dx) + (dy * dy) + (dz * dz) + 0.01;
                if (r2 > CutOff2)
                {
                    continue;
                }

                var s = 1.0 / (r2 * r2);
                forces[3 * i] -= s * dx;
                forces[(3 * i) + 1] -= s * dy;
                forces[(3 * i) + 2] -= s * dz;
                forces[3 * j] += s * dx;
                forces[(3 * j) + 1] += s * dy;
                forces[(3 * j) + 2] += s * dz;
            }
        }
    }

    /// <summary>Moves molecules [first, end) by their forces and velocities.</summary>
    public static void Move(Span<double> places, Span<double> velocities, ReadOnlySpan<double> forces, int first, int end)
    {
        for (var k = 3 * first; k < 3 * end; k++)
        {
            velocities[k] += forces[k] * TimeStep;
            places[k] += velocities[k] * TimeStep;
        }
    }

    /// <summary>The sequential baseline: <paramref name="steps"/> steps over all molecules.</summary>
    public static void Sequential(double[] places, double[] velocities, int steps)
    {
        var forces = new double[places.Length];
        for (var step = 0; step < steps; step++)
        {
            Array.Clear(forces);
            PairForces(places, 0, places.Length / 3, forces);
            Move(places, velocities, forces, 0, places.Length / 3);
        }
    }

    /// <summary>The first coordinate that differs beyond rounding (relative 1e-9), or null.</summary>
    public static string? Mismatch(ReadOnlySpan<double> shared, double[] expected)
    {
        for (var k = 0; k < expected.Length; k++)
        {
            if (!(Math.Abs(shared[k] - expected[k]) <= 1e-9 * Math.Max(1, Math.Abs(expected[k]))))
            {
                return $"molecule {k / 3} coordinate {k % 3} is {shared[k]:R}, sequential {expected[k]:R}";
            }
        }

        return null;
    }
}
