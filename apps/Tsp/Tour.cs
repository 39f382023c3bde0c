namespace HiveMind.Apps.Tsp;

/// <summary>
/// The travelling-salesman search of TreadMarks' suite, shared by the drones and the sequential baseline: cities are
/// random points with rounded Euclidean distances; a tour starts and ends at city 0; a partial tour is extended
/// depth-first, cut when its length plus a lower bound for the rest (each unvisited city's shortest edge, and the
/// last city's) reaches the best tour known.
/// </summary>
internal sealed class Tour
{
    private readonly int[,] _distance;
    private readonly int[] _shortest;

    public Tour(int cities, int seed)
    {
        Cities = cities;
        var random = new Random(seed);
        var points = Enumerable.Range(0, cities).Select(_ => (X: random.Next(1000), Y: random.Next(1000))).ToArray();
        _distance = new int[cities, cities];
        _shortest = new int[cities];
        for (var a = 0; a < cities; a++)
        {
            _shortest[a] = int.MaxValue;
            for (var b = 0; b < cities; b++)
            {
                var (dx, dy) = (points[a].X - points[b].X, points[a].Y - points[b].Y);
                _distance[a, b] = (int)Math.Round(Math.Sqrt((dx * dx) + (dy * dy)));
                if (a != b)
                {
                    _shortest[a] = Math.Min(_shortest[a], _distance[a, b]);
                }
            }
        }
    }

    public int Cities { get; }

    public int Distance(int a, int b) => _distance[a, b];

    /// <summary>The length of a whole tour (cities in order, back to the first).</summary>
    public int Length(ReadOnlySpan<int> tour)
    {
        var length = 0;
        for (var i = 0; i < tour.Length; i++)
        {
            length += _distance[tour[i], tour[(i + 1) % tour.Length]];
        }

        return length;
    }

    /// <summary>A lower bound for finishing a partial tour ending at <paramref name="last"/>, with <paramref name="unvisited"/> cities left (a bit each).</summary>
    public int Rest(int last, int unvisited)
    {
        var bound = _shortest[last];
        for (var c = 1; c < Cities; c++)
        {
            if ((unvisited & (1 << c)) != 0)
            {
                bound += _shortest[c];
            }
        }

        return bound;
    }

    /// <summary>
    /// Searches every completion of the partial tour <paramref name="path"/>[0..<paramref name="depth"/>) of length
    /// <paramref name="length"/>; a shorter whole tour than <paramref name="best"/> replaces it and goes to
    /// <paramref name="found"/> (which may make the bound still shorter, from other searchers). Returns the nodes visited.
    /// </summary>
    public long Search(int[] path, int depth, int length, ref int best, int[] bestTour, Func<int, int[], int> found)
    {
        var unvisited = Unvisited(path, depth);
        return Search(path, depth, length, unvisited, ref best, bestTour, found);
    }

    public static int Unvisited(int[] path, int depth, int cities)
    {
        var all = ((1 << cities) - 1) & ~1;
        for (var i = 1; i < depth; i++)
        {
            all &= ~(1 << path[i]);
        }

        return all;
    }

    private int Unvisited(int[] path, int depth) => Unvisited(path, depth, Cities);

    private long Search(int[] path, int depth, int length, int unvisited, ref int best, int[] bestTour, Func<int, int[], int> found)
    {
        var last = path[depth - 1];
        if (unvisited == 0)
        {
            var whole = length + _distance[last, 0];
            if (whole < best)
            {
                path.AsSpan(0, Cities).CopyTo(bestTour);
                best = found(whole, bestTour);
            }

            return 1;
        }

        if (length + Rest(last, unvisited) >= best)
        {
            return 1;
        }

        long nodes = 1;
        for (var c = 1; c < Cities; c++)
        {
            if ((unvisited & (1 << c)) != 0)
            {
                path[depth] = c;
                nodes += Search(path, depth + 1, length + _distance[last, c], unvisited & ~(1 << c), ref best, bestTour, found);
            }
        }

        return nodes;
    }

    /// <summary>The sequential baseline: the whole search from city 0 alone; returns the shortest length and fills <paramref name="bestTour"/>.</summary>
    public int Sequential(int[] bestTour)
    {
        var path = new int[Cities];
        var best = int.MaxValue;
        Search(path, 1, 0, ref best, bestTour, (length, _) => length);
        return best;
    }
}
