using System.Runtime.InteropServices;

namespace HiveMind.Consistency;

/// <summary>
/// One drone's interval records and write notices since the last garbage collection. Notices are indexed per page
/// and per writer, each writer's in interval order with a cursor past those the page's copy has applied (as
/// TreadMarks keeps them), so a miss looks only at notices it has not applied: its cost follows new work, not the
/// page's history.
/// </summary>
/// <remarks>
/// Not thread-safe: the engine calls it under its gate, from the application thread and the network threads.
/// A writer's notices of a page arrive in interval order (a drone learns a writer's intervals in order, and a
/// collection drops them all), which the per-writer lists rely on.
/// </remarks>
internal sealed class IntervalStore
{
    // Bytes counted per writer of a page (its list and cursor) beside 4 a notice.
    private const int WriterBytes = 48;

    private readonly Dictionary<int, IntervalRecord>[] _records;
    private readonly PageNotices?[] _notices;
    private readonly int[] _collectedUpTo;
    private readonly HashSet<int> _noticed = [];

    public IntervalStore(int drones, int pages)
    {
        _records = Enumerable.Range(0, drones).Select(_ => new Dictionary<int, IntervalRecord>()).ToArray();
        _notices = new PageNotices?[pages];
        _collectedUpTo = new int[drones];
    }

    /// <summary>Bytes of records held (a fixed part and 4 a VT entry and a page).</summary>
    public long RecordBytes { get; private set; }

    /// <summary>Bytes of write notices held (4 each as list capacity, and the per-writer lists).</summary>
    public long NoticeBytes { get; private set; }

    /// <summary>Write notices held.</summary>
    public long NoticeCount { get; private set; }

    /// <summary>Notices looked at by <see cref="Unapplied"/> since the store was made: a count that stays flat per miss when misses cost new work only.</summary>
    public long NoticesExamined { get; private set; }

    /// <summary>Pages that took write notices (or were written here) since the last collection.</summary>
    public IReadOnlyCollection<int> Noticed => _noticed;

    /// <summary>The last interval of <paramref name="drone"/> the last collection dropped: records up to it are gone.</summary>
    public int CollectedUpTo(int drone) => _collectedUpTo[drone];

    /// <summary>Starts a newcomer's store where the run's collections stand: nothing before <paramref name="timestamp"/> is kept.</summary>
    public void StartAt(int[] timestamp) => timestamp.CopyTo(_collectedUpTo, 0);

    public static long BytesOf(IntervalRecord record) => 64 + (4L * (record.Timestamp.Count + record.Pages.Length));

    /// <summary>Keeps <paramref name="record"/> unless it is older than the last collection or known already.</summary>
    public void Store(IntervalRecord record)
    {
        // Records older than the last garbage collection are gone for good; nobody asks for them any more.
        if (record.Index > _collectedUpTo[record.Drone] && _records[record.Drone].TryAdd(record.Index, record))
        {
            RecordBytes += BytesOf(record);
        }
    }

    public bool TryGet(int drone, int index, out IntervalRecord record) => _records[drone].TryGetValue(index, out record!);

    /// <summary><paramref name="drone"/>'s records kept since the last collection, in interval order.</summary>
    public IEnumerable<IntervalRecord> RecordsOf(int drone) => _records[drone].Where(r => r.Key > _collectedUpTo[drone]).OrderBy(r => r.Key).Select(r => r.Value);

    /// <summary>Marks <paramref name="pages"/> as written by this drone since the last collection (its own notices are in its records).</summary>
    public void Written(IEnumerable<int> pages) => _noticed.UnionWith(pages);

    /// <summary>Notes that <paramref name="writer"/> modified <paramref name="page"/> in <paramref name="interval"/>, the writer's next interval for the page.</summary>
    public void Notice(int page, int writer, int interval)
    {
        var notices = _notices[page] ??= new PageNotices();
        var of = notices.Of(writer);
        if (of is null)
        {
            of = new WriterNotices(writer);
            notices.Writers.Add(of);
            NoticeBytes += WriterBytes;
        }

        if (of.Intervals.Count > 0 && of.Intervals[^1] >= interval)
        {
            throw new InvalidOperationException($"A write notice of page {page} by drone {writer} for interval {interval} came after one for interval {of.Intervals[^1]}.");
        }

        var capacity = of.Intervals.Capacity;
        of.Intervals.Add(interval);
        NoticeBytes += 4L * (of.Intervals.Capacity - capacity);
        NoticeCount++;
        _noticed.Add(page);
    }

    /// <summary>
    /// The intervals of each writer <paramref name="include"/> accepts whose notices of <paramref name="page"/> a copy
    /// that has applied <paramref name="applied"/> lacks, in interval order. Looks at those and at the ones applied
    /// since the last call (the cursor moves back only when a whole copy that holds less took the page's place).
    /// </summary>
    public List<(int Writer, int[] Intervals)> Unapplied(int page, int[] applied, Func<int, bool> include)
    {
        var result = new List<(int Writer, int[] Intervals)>();
        foreach (var of in _notices[page]?.Writers ?? [])
        {
            var intervals = of.Intervals;
            var cursor = of.Cursor;
            var moved = 0;
            while (cursor > 0 && intervals[cursor - 1] > applied[of.Writer])
            {
                cursor--;
                moved++;
            }

            while (cursor < intervals.Count && intervals[cursor] <= applied[of.Writer])
            {
                cursor++;
                moved++;
            }

            of.Cursor = cursor;
            NoticesExamined += moved + 1;
            if (cursor < intervals.Count && include(of.Writer))
            {
                result.Add((of.Writer, CollectionsMarshal.AsSpan(intervals)[cursor..].ToArray()));
                NoticesExamined += intervals.Count - cursor;
            }
        }

        return result;
    }

    /// <summary>The last interval for which <paramref name="writer"/>'s notice of <paramref name="page"/> is held; 0 without one.</summary>
    public int LastNoticed(int page, int writer) => _notices[page]?.Of(writer) is { Intervals: [.., var last] } ? last : 0;

    /// <summary>The drones whose notices of <paramref name="page"/> are held.</summary>
    public IEnumerable<int> Writers(int page) => _notices[page]?.Writers.Select(w => w.Writer) ?? [];

    /// <summary>Drops every record and notice: the drones stand at <paramref name="timestamp"/>, which the collection makes the new start.</summary>
    public void Collect(int[] timestamp)
    {
        foreach (var page in _noticed)
        {
            _notices[page] = null;
        }

        for (var drone = 0; drone < _records.Length; drone++)
        {
            _collectedUpTo[drone] = timestamp[drone];
            _records[drone].Clear();
        }

        _noticed.Clear();
        RecordBytes = 0;
        NoticeBytes = 0;
        NoticeCount = 0;
    }

    private sealed class PageNotices
    {
        public List<WriterNotices> Writers { get; } = new(2);

        public WriterNotices? Of(int writer)
        {
            foreach (var of in Writers)
            {
                if (of.Writer == writer)
                {
                    return of;
                }
            }

            return null;
        }
    }

    /// <summary>One writer's notices of one page: its intervals in order, and how many of them a miss last found applied.</summary>
    private sealed class WriterNotices(int writer)
    {
        public int Writer { get; } = writer;

        public List<int> Intervals { get; } = [];

        public int Cursor { get; set; }
    }
}
