using System.Buffers;
using System.Diagnostics;
using HiveMind.Diffs;
using HiveMind.Memory;
using HiveMind.Telemetry;

namespace HiveMind.Consistency;

/// <summary>
/// Access misses and the diffs they need (PROTOCOL.md, "Access misses" and "Diffs"): a fault on an invalid page asks
/// each writer for all its missing diffs at once and applies them in happens-before order; a write fault makes a twin
/// (or keeps the twin of a run that goes on); a page that lost its diffs to garbage collection (or, on a drone that
/// joined, was never here) comes whole from a holder; a page whose diffs died with a removed drone takes the best live
/// copy. The serving side is here too: the diffs this drone made, made lazily when asked for, and its copies of pages.
/// </summary>
/// <remarks>
/// <para>
/// Threads: <see cref="OnFault"/> and <see cref="OnFaults"/> run on whichever thread of the drone touched the page,
/// serialized by the engine's faults lock (<see cref="LrcEngine.Faults"/>), which they hold across a miss's network
/// waits and which no network thread takes. The garbage collector's validation calls <see cref="Miss(int)"/> on the
/// application thread during a barrier without that lock. <see cref="Serve"/> runs where the engine answers a request:
/// a network thread, or, for a request parked until its asker was admitted, where <see cref="Admission.ReplayEarly"/>
/// resumes it when the network serves it in place (the thread that installs the view admitting the asker: a network
/// thread, on drone 0 the thread that decided the view, or a newcomer's application thread as it joins). It never
/// waits on the network.
/// </para>
/// <para>
/// The diffs made here (<c>_diffs</c>, their bytes) are guarded by the engine's gate: every access takes it, briefly
/// (the collector drops them through <see cref="DropDiffs"/> with it held). A page's twin and run, and its applied
/// vector and need of a whole copy as they change, are guarded by the page's lock (its <see cref="PageEntry"/>), which
/// is what a serving thread races with; the faulting thread also reads them without it, and gives a page its first
/// applied vector under the gate alone. A page lock may be held while the gate is taken, never the other way round, and
/// neither is held across a network wait.
/// </para>
/// </remarks>
internal sealed class MissPath
{
    // Intervals one page of a diff request may name: a drone asks for a writer's intervals since the last collection.
    private const int MaxIntervalsPerRequest = 1 << 20;

    private readonly LrcEngine _engine;
    private readonly object _gate;
    private readonly object _faults;
    private readonly SharedHeap _heap;
    private readonly IDroneNetwork _network;
    private readonly VectorTimestamp _vt;
    private readonly IntervalStore _store;
    private readonly Dictionary<(int Page, int Interval), CoveredDiff> _diffs = [];
    private long _diffBytes;

    public MissPath(LrcEngine engine)
    {
        _engine = engine;
        _gate = engine.Gate;
        _faults = engine.Faults;
        _heap = engine.Heap;
        _network = engine.Network;
        _vt = engine.Vt;
        _store = engine.Store;
    }

    private int Self => _engine.Self;

    private int Drones => _engine.Drones;

    /// <summary>The views and the barrier manager's decisions (the engine's, looked up at each use).</summary>
    private Membership Membership => _engine.Membership;

    /// <summary>The garbage collector and the holders of pages (the engine's, looked up at each use).</summary>
    private Collector Collector => _engine.Collector;

    private ProtocolStatistics Statistics => _engine.Statistics;

    /// <summary>Bytes of the diffs held. Caller holds the gate.</summary>
    public long DiffBytes
    {
        get
        {
            Debug.Assert(Monitor.IsEntered(_gate), "MissPath.DiffBytes: the caller holds the gate");

            return _diffBytes;
        }
    }

    /// <summary>A fault on <paramref name="page"/>: brings an invalid copy up to date and, for a write, makes the page writable with a twin.</summary>
    public void OnFault(SharedHeap heap, int page, bool write)
    {
        ArgumentNullException.ThrowIfNull(heap);
        if (Drones == 1)
        {
            // Alone, this drone's copy is the only one and nobody will ask for a diff: no twins, no notices.
            heap.SetAccess(page, write ? PageAccess.ReadWrite : PageAccess.ReadOnly);
            return;
        }

        lock (_faults)
        {
            // Another thread of this drone may have served this page while this one waited.
            var access = heap.GetAccess(page);
            if (write ? access == PageAccess.ReadWrite : access != PageAccess.NoAccess)
            {
                return;
            }

            OnFaultAlone(heap, page, write);
        }
    }

    /// <summary>One fault, with the faults lock held.</summary>
    private void OnFaultAlone(SharedHeap heap, int page, bool write)
    {
        if (heap.GetAccess(page) == PageAccess.NoAccess)
        {
            Miss(page);
            Statistics.ReadMisses += write ? 0 : 1;
        }

        if (!write)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var entry = heap.GetEntry(page);
        var open = _vt[Self] + 1;
        lock (entry)
        {
            if (entry.TwinInterval != 0 && entry.TwinInterval < open)
            {
                // The twin's run is closed and its diff not made, so this page took no write notice of another
                // drone since (the miss that follows one ends the run): the run goes on into this interval and one
                // diff will cover it all.
                entry.RunIntervals.Add(open);
                Statistics.TwinsKept++;
            }
            else if (entry.TwinInterval != open)
            {
                heap.MakeTwin(page);
                entry.TwinInterval = open;
                entry.RunIntervals.Clear();
                entry.RunIntervals.Add(open);
                Statistics.TwinsMade++;
            }
        }

        Statistics.WriteFaultTicks += Stopwatch.GetTimestamp() - started;
        _engine.MarkDirty(page);
        heap.SetAccess(page, PageAccess.ReadWrite);
    }

    /// <summary>Faults in a range of pages: the invalid ones are brought up to date together, then each is made writable if asked.</summary>
    public void OnFaults(SharedHeap heap, int first, int last, bool write)
    {
        ArgumentNullException.ThrowIfNull(heap);
        lock (_faults)
        {
            OnFaultsAlone(heap, first, last, write);
        }
    }

    private void OnFaultsAlone(SharedHeap heap, int first, int last, bool write)
    {
        if (Drones > 1)
        {
            var invalid = new List<int>();
            for (var page = first; page <= last; page++)
            {
                if (heap.GetAccess(page) == PageAccess.NoAccess)
                {
                    invalid.Add(page);
                }
            }

            if (invalid.Count > 1)
            {
                Miss(invalid);
                Statistics.ReadMisses += write ? 0 : invalid.Count;
            }
        }

        for (var page = first; page <= last; page++)
        {
            if (write ? heap.GetAccess(page) != PageAccess.ReadWrite : heap.GetAccess(page) == PageAccess.NoAccess)
            {
                OnFault(heap, page, write);
            }
        }
    }

    /// <summary>Brings an invalid page up to date: each writer's missing diffs, asked for at once, applied in happens-before order.</summary>
    public void Miss(int page) => Miss([page]);

    /// <summary>
    /// Brings invalid pages up to date together: every (writer, page) diff request of all of them goes out
    /// at once, so a range costs about one round trip instead of one per page.
    /// </summary>
    private void Miss(IReadOnlyList<int> pages)
    {
        // A writer that stops answering is waited out until the view removes it; then its diffs are skipped.
        var started = Stopwatch.GetTimestamp();
        using var activity = HiveMindTelemetry.Source.StartActivity("hivemind.miss");
        activity?.SetTag(HiveMindTelemetry.DroneTag, Self).SetTag("hivemind.pages", pages.Count);
        while (true)
        {
            try
            {
                MissOnce(pages);
                break;
            }
            catch (DroneUnreachableException error) when (error.Drone >= 0)
            {
                Membership.WaitUntilRemoved(error.Drone, error.Message);
            }
        }

        _engine.Traced(TraceEventKind.Miss, pages.Count > 0 ? pages[0] : -1, closing: false);
        var ended = Stopwatch.GetTimestamp();
        Statistics.MissTicks += ended - started;
        if (HiveMindTelemetry.MissTime.Enabled)
        {
            HiveMindTelemetry.MissTime.Record(HiveMindTelemetry.Milliseconds(started, ended), new KeyValuePair<string, object?>(HiveMindTelemetry.DroneTag, Self));
        }
    }

    private void MissOnce(IReadOnlyList<int> pages)
    {
        FetchWholePages(pages);

        // Nothing below changes a page until its diffs are in: a retry after a writer fails starts afresh.
        var adoptions = ChooseLiveCopies(pages);
        var diffsByPage = adoptions.ToDictionary(a => a.Key, a => a.Value.Own);

        // For each writer, the pages it wrote that this copy lacks and the intervals of those writes.
        var byWriter = new SortedDictionary<int, List<PageIntervals>>();
        lock (_gate)
        {
            foreach (var page in pages)
            {
                var applied = adoptions.TryGetValue(page, out var adoption) ? adoption.Applied : (_heap.GetEntry(page).AppliedVector ??= new int[Drones]);
                // Diffs that lived only on a removed drone are lost: the copy stays without them (LRC permits the older value).
                foreach (var (writer, intervals) in _store.Unapplied(page, applied, d => d != Self && Membership.IsLive(d)))
                {
                    (byWriter.TryGetValue(writer, out var list) ? list : byWriter[writer] = []).Add(new PageIntervals(page, intervals));
                }
            }

            Statistics.NoticesExamined = _store.NoticesExamined;
        }

        // One request per writer (in chunks, so that the writer's replies stream while this drone applies).
        var requests = new List<(int Drone, ProtocolMessage Request)>();
        foreach (var (writer, list) in byWriter)
        {
            foreach (var chunk in list.Chunk(LrcEngine.MaxPagesPerDiffRequest))
            {
                requests.Add((writer, new DiffRequest(chunk)));
            }
        }

        // A reply holds at most MaxReplyBytes of diffs: what a writer still owes after one is asked for again, until
        // every interval asked for is covered. Last[(writer, page)]: the last interval of the writer's diffs received.
        var last = new Dictionary<(int Writer, int Page), int>();
        while (requests.Count > 0)
        {
            var replies = _network.RequestAll(requests);
            var again = new List<(int Drone, ProtocolMessage Request)>();
            for (var i = 0; i < requests.Count; i++)
            {
                var (writer, message) = requests[i];
                var request = (DiffRequest)message;
                if (replies[i] is not DiffReply reply || reply.Pages.Length > request.Pages.Length)
                {
                    throw new InvalidDataException($"Drone {Self}: drone {writer} answered a diff request for {request.Pages.Length} page(s) with {replies[i]}.");
                }

                var owed = new List<PageIntervals>();
                var received = 0;
                for (var p = 0; p < request.Pages.Length; p++)
                {
                    var (page, intervals) = request.Pages[p];
                    if (!last.TryGetValue((writer, page), out var covered))
                    {
                        covered = (adoptions.TryGetValue(page, out var adopted) ? adopted.Applied : _heap.GetEntry(page).AppliedVector!)[writer];
                    }

                    if (p < reply.Pages.Length)
                    {
                        var answer = reply.Pages[p];
                        CheckCoverage(writer, page, intervals, answer, covered);
                        var diffs = diffsByPage.TryGetValue(page, out var known) ? known : diffsByPage[page] = [];
                        foreach (var diff in answer.Diffs)
                        {
                            PageDiff.Validate(diff.Bytes.Span, _heap.PageSize);

                            // A diff of a run stands where the run's first interval stands in happens-before.
                            diffs.Add((Sum(_engine.RecordOf(writer, diff.First).Timestamp), writer, diff));
                            covered = diff.Last;
                            received++;
                        }

                        last[(writer, page)] = covered;
                    }

                    var missing = intervals.Where(k => k > covered).ToArray();
                    if (missing.Length > 0)
                    {
                        owed.Add(new PageIntervals(page, missing));
                    }
                }

                if (owed.Count > 0)
                {
                    if (received == 0)
                    {
                        throw new InvalidDataException($"Drone {Self}: drone {writer} answered a diff request for {request.Pages.Length} page(s) with no diff.");
                    }

                    Statistics.DiffRequestsContinued++;
                    again.Add((writer, new DiffRequest([.. owed])));
                }
            }

            requests = again;
        }

        foreach (var page in pages)
        {
            var entry = _heap.GetEntry(page);
            lock (entry)
            {
                // A miss means the page took write notices of other drones (or needs a whole copy): the run of a twin
                // this drone keeps ends here, even when the copy already holds every write noticed (a whole copy can
                // hold writes of intervals its drone learns only later). A run diff stands where its first interval
                // stands, so a run that went on past the notice would put this drone's later writes before the
                // noticed interval's. Our own pending diff also comes first, or foreign words would later be taken for
                // our writes.
                MakePendingDiff(entry);
                if (diffsByPage.TryGetValue(page, out var diffs))
                {
                    // A linear extension of happens-before: a dominated VT has a smaller sum; ties are concurrent.
                    diffs.Sort((a, b) => a.Order != b.Order ? a.Order.CompareTo(b.Order) : a.Drone != b.Drone ? a.Drone.CompareTo(b.Drone) : a.Diff.First.CompareTo(b.Diff.First));
                    CheckApplyOrder(page, diffs);
                    if (adoptions.TryGetValue(page, out var adoption))
                    {
                        // The live copy that holds most of the removed drones' writes becomes the base; our own
                        // writes it lacks are among the diffs applied next, in happens-before order.
                        adoption.Bytes?.Span.CopyTo(_heap.PageBytes(page));
                        entry.AppliedVector = adoption.Applied;
                    }

                    var applied = entry.AppliedVector!;
                    foreach (var (_, drone, diff) in diffs)
                    {
                        _heap.ApplyDiff(page, diff.Bytes.Span);

                        // The run may reach past the intervals asked for: those writes are in now, never to be applied again.
                        applied[drone] = Math.Max(applied[drone], diff.Last);
                        Statistics.DiffsApplied++;
                        Statistics.DiffBytesApplied += diff.Bytes.Length;
                    }
                }
            }

            _heap.SetAccess(page, PageAccess.ReadOnly);
        }
    }

    /// <summary>
    /// Checks a writer's answer for one page: diffs in interval order, runs that do not overlap and start after
    /// <paramref name="covered"/> (what this copy or earlier replies hold), and every interval asked for up to the last
    /// diff's covered (a reply may stop early, but never skip one).
    /// </summary>
    private void CheckCoverage(int writer, int page, int[] intervals, PageDiffs answer, int covered)
    {
        var previous = covered;
        foreach (var diff in answer.Diffs)
        {
            if (diff.First <= previous || diff.Last < diff.First)
            {
                throw new InvalidDataException(
                    $"Drone {Self}: drone {writer} sent a diff of page {page} for intervals {diff.First}..{diff.Last}, which overlaps its earlier diffs or interval {covered} this copy holds.");
            }

            previous = diff.Last;
        }

        if (answer.Page != page || !intervals.All(k => k <= covered || k > previous || answer.Diffs.Any(d => d.First <= k && k <= d.Last)))
        {
            throw new InvalidDataException(
                $"Drone {Self}: drone {writer} answered the request for page {page}, intervals [{string.Join(", ", intervals)}], with page {answer.Page} runs [{string.Join(", ", answer.Diffs.Select(d => $"{d.First}..{d.Last}"))}].");
        }
    }

    /// <summary>
    /// Checks that applying <paramref name="diffs"/> in their order respects happens-before among every interval
    /// this drone knows in them: no diff may come after one that holds a write it happens-before. A diff of a run
    /// that jumped over another writer's diff of the same page (a foreign diff its writer applied inside the
    /// run) would fail here rather than overwrite newer words.
    /// </summary>
    private void CheckApplyOrder(int page, List<(long Order, int Drone, CoveredDiff Diff)> diffs)
    {
        if (diffs.TrueForAll(d => d.Drone == diffs[0].Drone))
        {
            return; // one writer's runs are in interval order
        }

        List<IntervalRecord> Known((long Order, int Drone, CoveredDiff Diff) d)
        {
            var known = new List<IntervalRecord>();
            lock (_gate)
            {
                for (var k = d.Diff.First; k <= Math.Min(d.Diff.Last, _vt[d.Drone]); k++)
                {
                    if (_store.TryGet(d.Drone, k, out var record) && record.Pages.Contains(page))
                    {
                        known.Add(record);
                    }
                }
            }

            return known;
        }

        var intervals = diffs.Select(Known).ToList();
        for (var later = 1; later < diffs.Count; later++)
        {
            for (var earlier = 0; earlier < later; earlier++)
            {
                if (diffs[earlier].Drone == diffs[later].Drone)
                {
                    continue; // one writer's runs are in interval order
                }

                foreach (var after in intervals[earlier])
                {
                    foreach (var before in intervals[later])
                    {
                        if (after.Timestamp[before.Drone] >= before.Index)
                        {
                            throw new InvalidOperationException(
                                $"Drone {Self}: page {page}: drone {before.Drone}'s interval {before.Index} happens before drone {after.Drone}'s interval {after.Index}, but its diff (intervals {diffs[later].Diff.First}..{diffs[later].Diff.Last}) would be applied after.");
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// For pages whose missing diffs include some of a removed drone (lost with it): asks the live drones for
    /// their copies and picks the one that holds more of the removed drones' writes than this copy and less of
    /// none (PROTOCOL.md: "the drone with the next-highest interval for that page"). The caller installs it when
    /// the page's other diffs are in; this drone's own writes that the copy lacks come back as diffs to apply in
    /// happens-before order with those. Either way the removed drones' notices count as applied from then on:
    /// what no live drone holds is lost, and the stale words stay (LRC permits the older value).
    /// </summary>
    private Dictionary<int, Adoption> ChooseLiveCopies(IReadOnlyList<int> pages)
    {
        var result = new Dictionary<int, Adoption>();
        foreach (var page in pages)
        {
            int[] applied;
            int[] lost;
            lock (_gate)
            {
                applied = (_heap.GetEntry(page).AppliedVector ??= new int[Drones]).ToArray();
                lost = new int[Drones];
                foreach (var writer in _store.Writers(page))
                {
                    if (writer != Self && !Membership.IsLive(writer) && _store.LastNoticed(page, writer) > applied[writer])
                    {
                        lost[writer] = _store.LastNoticed(page, writer);
                    }
                }

                if (lost.All(l => l == 0))
                {
                    continue;
                }
            }

            PageCopy? best = null;
            var bestGain = 0L;
            foreach (var reply in LiveCopies(page))
            {
                // Better for some removed drone and worse for none: a copy short of one removed drone's writes
                // that this copy holds would lose them for good.
                var removed = Enumerable.Range(0, Drones).Where(d => lost[d] > 0 || (d != Self && !Membership.IsLive(d))).ToArray();
                if (removed.Any(d => reply.Applied[d] < applied[d]))
                {
                    continue;
                }

                var gain = removed.Sum(d => (long)reply.Applied[d] - applied[d]);
                if (gain > bestGain)
                {
                    (best, bestGain) = (reply, gain);
                }
            }

            var entry = _heap.GetEntry(page);
            var own = new List<(long Order, int Drone, CoveredDiff Diff)>();
            if (best is not null)
            {
                lock (entry)
                {
                    MakePendingDiff(entry);
                    lock (_gate)
                    {
                        // Our diffs (a run's diff once) that the copy lacks. A run that the copy holds in part would
                        // bring back our older words over newer ones it holds: then the copy is not taken.
                        foreach (var record in _store.RecordsOf(Self))
                        {
                            var index = record.Index;
                            if (record.Pages.Contains(page) && _diffs.TryGetValue((page, index), out var diff) && diff.Last > best.Applied[Self]
                                && !own.Exists(o => o.Diff.First == diff.First))
                            {
                                if (diff.First <= best.Applied[Self])
                                {
                                    own.Clear();
                                    best = null;
                                    break;
                                }

                                own.Add((Sum(_engine.RecordOf(Self, diff.First).Timestamp), Self, diff));
                            }
                        }
                    }
                }
            }

            Statistics.PagesAdopted += best is null ? 0 : 1;
            Statistics.PagesResurrected += best is null ? 1 : 0;
            var adopted = best?.Applied.ToArray() ?? applied;
            for (var d = 0; d < Drones; d++)
            {
                adopted[d] = Math.Max(adopted[d], lost[d]);
            }

            result[page] = new Adoption(best?.Bytes, adopted, own);
        }

        return result;
    }

    /// <summary>The copy of <paramref name="page"/> with the most writes (by applied vector) among the live drones that have one, or null.</summary>
    private PageCopy? NewestLiveCopy(int page) => LiveCopies(page).MaxBy(copy => copy.Applied.Sum(a => (long)a));

    /// <summary>
    /// The copies of <paramref name="page"/> the other live drones have, asked for one drone at a time (failure paths
    /// only): a drone without one (it lost its own to garbage collection) or failing too (its own view change follows)
    /// is passed over.
    /// </summary>
    private IEnumerable<PageCopy> LiveCopies(int page)
    {
        var request = new PageRequest([page]);
        int[] others;
        lock (_gate)
        {
            others = Membership.LiveDrones().Where(d => d != Self).ToArray();
        }

        foreach (var drone in others)
        {
            ProtocolMessage answer;
            try
            {
                answer = _network.RequestAll([(drone, request)])[0];
            }
            catch (DroneUnreachableException)
            {
                continue;
            }

            if (Mismatch(request, answer) is null && answer is PageReply { Copies: [var copy] } && copy.Bytes.Length == _heap.PageSize)
            {
                yield return copy;
            }
        }
    }

    /// <summary>
    /// What is wrong with <paramref name="answer"/> as the reply to <paramref name="request"/>, as the end of "answered the
    /// request for ...": a reply holds a copy of each page asked, in the order asked, each of a page's bytes or none, with
    /// an applied vector of this run. Null when nothing is.
    /// </summary>
    private string? Mismatch(PageRequest request, ProtocolMessage answer)
    {
        if (answer is not PageReply reply || reply.Copies.Length != request.Pages.Length)
        {
            var came = answer is PageReply other ? $"{other.Copies.Length} copies" : answer.GetType().Name;
            return $"{request.Pages.Length} page(s) [{string.Join(", ", request.Pages)}] with {came}";
        }

        for (var i = 0; i < request.Pages.Length; i++)
        {
            var (page, copy) = (request.Pages[i], reply.Copies[i]);
            if (copy.Page != page)
            {
                return $"page {page} with a copy of page {copy.Page} in its place ({i} of {request.Pages.Length})";
            }

            if (copy.Bytes.Length != 0 && copy.Bytes.Length != _heap.PageSize)
            {
                return $"page {page} with a copy of {copy.Bytes.Length} bytes (a page holds {_heap.PageSize}, no copy 0)";
            }

            if (copy.Applied.Length != Drones)
            {
                return $"page {page} with an applied vector of {copy.Applied.Length} entries in a run of {Drones} drone slots";
            }
        }

        return null;
    }

    /// <summary>Makes <paramref name="copy"/> (or, when null, the stale copy) what this drone's page holds; it needs no whole page any more.</summary>
    private void InstallCopy(int page, PageCopy? copy)
    {
        var entry = _heap.GetEntry(page);
        lock (entry)
        {
            if (copy is not null)
            {
                copy.Bytes.Span.CopyTo(_heap.PageBytes(page));
                entry.AppliedVector = copy.Applied;
            }

            entry.NeedsWholePage = false;
        }
    }

    /// <summary>
    /// Replaces this drone's copies of the pages that need it (after garbage collection, or on a drone that joined)
    /// with their holders' copies and applied vectors: a holder per page chosen so that the fetches of one page spread
    /// over its holders, each holder asked for its pages in requests of as many as a reply holds, the requests sent in
    /// batches of about <see cref="LrcEngine.MaxWholePageBatchBytes"/> of pages (the network windows a batch per holder,
    /// so the replies stream), each batch installed before the next goes. A holder that stops answering is waited out
    /// until the view removes it, and the pages not yet installed are asked for again, those of the removed holder from
    /// the others.
    /// </summary>
    private void FetchWholePages(IReadOnlyList<int> pages)
    {
        while (true)
        {
            var byHolder = new SortedDictionary<int, List<int>>();
            var orphans = new List<int>();
            lock (_gate)
            {
                foreach (var page in pages)
                {
                    if (!_heap.GetEntry(page).NeedsWholePage)
                    {
                        continue;
                    }

                    var holders = Collector.TryGetHolders(page, out var known) ? known.Where(h => h != Self && Membership.IsLive(h)).ToArray() : [];
                    if (holders.Length == 0)
                    {
                        orphans.Add(page);
                    }
                    else
                    {
                        var holder = holders[Self % holders.Length];
                        (byHolder.TryGetValue(holder, out var list) ? list : byHolder[holder] = []).Add(page);
                    }
                }
            }

            // Pages whose holders have all failed: the newest copy a live drone has (a drone that joined since has
            // none of its own), else the stale copy, which is what the page now holds.
            foreach (var page in orphans)
            {
                var copy = NewestLiveCopy(page);
                InstallCopy(page, copy);
                Statistics.PagesAdopted += copy is null ? 0 : 1;
                Statistics.PagesResurrected += copy is null ? 1 : 0;
            }

            // The holders' requests in turns (each holder's first, then each one's second, ...), so that every batch
            // keeps all the holders busy.
            var perRequest = _engine.MaxPagesPerPageRequest;
            var requests = byHolder
                .SelectMany(pair => pair.Value.Chunk(perRequest).Select((chunk, turn) => (Turn: turn, Holder: pair.Key, Pages: chunk)))
                .OrderBy(request => request.Turn) // stable: holders in order within a turn
                .Select(request => (request.Holder, (ProtocolMessage)new PageRequest(request.Pages)))
                .ToList();

            if (requests.Count == 0)
            {
                return;
            }

            var asked = byHolder.Values.Sum(list => list.Count);
            try
            {
                foreach (var batch in Batches(requests))
                {
                    FetchBatch(batch);
                }

                return;
            }
            catch (DroneUnreachableException error) when (error.Drone >= 0)
            {
                Membership.WaitUntilRemoved(error.Drone, $"whole pages ({asked} asked of {byHolder.Count} holder(s))");
            }
        }
    }

    /// <summary>
    /// <paramref name="requests"/> in order, cut into batches of at most <see cref="LrcEngine.MaxWholePageBatchBytes"/>
    /// of pages asked, a request at least each.
    /// </summary>
    private IEnumerable<List<(int Drone, ProtocolMessage Request)>> Batches(List<(int Drone, ProtocolMessage Request)> requests)
    {
        var batch = new List<(int Drone, ProtocolMessage Request)>();
        var bytes = 0L;
        foreach (var request in requests)
        {
            var size = (long)((PageRequest)request.Request).Pages.Length * _heap.PageSize;
            if (batch.Count > 0 && bytes + size > LrcEngine.MaxWholePageBatchBytes)
            {
                yield return batch;
                (batch, bytes) = ([], 0);
            }

            batch.Add(request);
            bytes += size;
        }

        yield return batch;
    }

    /// <summary>
    /// Sends one batch of whole-page requests at once and installs the copies, after checking every reply: a holder's
    /// bad answer changes nothing of the batch. The replies (whose bodies the copies are slices of) are garbage when
    /// this returns.
    /// </summary>
    private void FetchBatch(List<(int Drone, ProtocolMessage Request)> requests)
    {
        var replies = _network.RequestAll(requests);
        for (var i = 0; i < requests.Count; i++)
        {
            var (holder, request) = requests[i];
            if (Mismatch((PageRequest)request, replies[i]) is { } wrong)
            {
                throw new InvalidDataException($"Drone {Self}: drone {holder} answered the request for {wrong}.");
            }

            if (((PageReply)replies[i]).Copies.FirstOrDefault(c => c.Bytes.IsEmpty) is { } none)
            {
                throw new InvalidDataException($"Drone {Self}: drone {holder} answered the request for page {none.Page} with no copy of it, though it holds the page.");
            }
        }

        foreach (var copy in replies.SelectMany(reply => ((PageReply)reply).Copies))
        {
            InstallCopy(copy.Page, copy);
            Statistics.WholePagesFetched++;
        }
    }

    /// <summary>
    /// Makes the diff of the twin's run up to its last closed interval, if it has not been made. When the run is
    /// closed the twin goes. When it goes on in the open interval, the diff covers the closed intervals and the
    /// twin, which encoding brought up to what it read, then tracks the open interval alone: the encoder reads the
    /// live page, so a write racing with it is either in this diff or in the next (PageDiff), and an open-interval
    /// word that lands in this diff is one that no race-free reader of the closed intervals reads.
    /// Caller holds the page lock.
    /// </summary>
    private void MakePendingDiff(PageEntry entry)
    {
        Debug.Assert(Monitor.IsEntered(entry), "MissPath.MakePendingDiff: the caller holds the page lock");

        if (entry.TwinInterval == 0)
        {
            return;
        }

        var closed = ClosedIntervals();
        var run = entry.RunIntervals;
        var covered = run.Count;
        while (covered > 0 && run[covered - 1] > closed)
        {
            covered--;
        }

        if (covered == 0)
        {
            return; // the twin of the open interval
        }

        Debug.Assert(run[0] == entry.TwinInterval, "a run starts at its twin's interval");
        var buffer = ArrayPool<byte>.Shared.Rent(PageDiff.MaxEncodedLength(_heap.PageSize));
        var length = _heap.MakeDiff(entry.Page, buffer);
        var diff = new CoveredDiff(run[0], run[covered - 1], buffer.AsSpan(0, length).ToArray());
        ArrayPool<byte>.Shared.Return(buffer);
        lock (_gate)
        {
            for (var i = 0; i < covered; i++)
            {
                _diffs[(entry.Page, run[i])] = diff;
            }

            _diffBytes += length;
        }

        Statistics.CountDiffMade(length);
        run.RemoveRange(0, covered);
        if (run.Count > 0)
        {
            entry.TwinInterval = run[0];
        }
        else
        {
            entry.TwinInterval = 0;
            _heap.DropTwin(entry.Page);
        }
    }

    private int ClosedIntervals()
    {
        lock (_gate)
        {
            return _vt[Self];
        }
    }

    /// <summary>Drops every diff made here: a garbage collection passed them all. Caller holds the gate.</summary>
    public void DropDiffs()
    {
        Debug.Assert(Monitor.IsEntered(_gate), "MissPath.DropDiffs: the caller holds the gate");

        _diffs.Clear();
        _diffBytes = 0;
    }

    /// <summary>
    /// Answers a request of another drone for diffs or for pages (the engine has checked that the asker may ask); never
    /// waits on the network.
    /// </summary>
    /// <exception cref="InvalidOperationException">The request cannot be answered (named).</exception>
    public ProtocolMessage Serve(int from, ProtocolMessage request)
    {
        CheckRequest(from, request);
        return request switch
        {
            DiffRequest diffs => DiffsFor(diffs),
            PageRequest pages => new PageReply(Array.ConvertAll(pages.Pages, PageFor)),
            _ => throw new InvalidOperationException($"Drone {Self}: {request.GetType().Name} from drone {from} is not a request."),
        };
    }

    /// <summary>
    /// Throws when <paramref name="request"/> names pages outside the heap, a page twice, or asks for more than a request
    /// may (a whole-page request: 1 to <see cref="LrcEngine.MaxPagesPerPageRequest"/> pages; a diff request: at most
    /// <see cref="LrcEngine.MaxPagesPerDiffRequest"/> pages).
    /// </summary>
    public void CheckRequest(int from, ProtocolMessage request)
    {
        switch (request)
        {
            case not (PageRequest or DiffRequest):
                throw new InvalidOperationException($"Drone {Self}: {request.GetType().Name} from drone {from} is not a request.");
            case PageRequest pages:
                CheckPageRequest(from, pages);
                break;
            case DiffRequest diffs when diffs.Pages.Length > LrcEngine.MaxPagesPerDiffRequest || diffs.Pages.Any(p => (uint)p.Page >= (uint)_heap.PageCount || p.Intervals.Length > MaxIntervalsPerRequest):
                throw new InvalidOperationException(
                    $"Drone {Self}: drone {from} asked for diffs of {diffs.Pages.Length} page(s) (at most {LrcEngine.MaxPagesPerDiffRequest}, each of {_heap.PageCount} pages, at most {MaxIntervalsPerRequest} intervals each).");
        }
    }

    /// <summary>
    /// Throws unless <paramref name="request"/> names 1 to <see cref="LrcEngine.MaxPagesPerPageRequest"/> pages (what a
    /// reply of this drone may hold: the asker's limit too), each inside the heap and once.
    /// </summary>
    private void CheckPageRequest(int from, PageRequest request)
    {
        var limit = _engine.MaxPagesPerPageRequest;
        if (request.Pages.Length == 0 || request.Pages.Length > limit)
        {
            throw new InvalidOperationException($"Drone {Self}: drone {from} asked for {request.Pages.Length} whole page(s) in one request (1 to {limit}).");
        }

        var seen = new HashSet<int>(request.Pages.Length);
        foreach (var page in request.Pages)
        {
            if ((uint)page >= (uint)_heap.PageCount)
            {
                throw new InvalidOperationException($"Drone {Self}: drone {from} asked for page {page}, outside the heap of {_heap.PageCount} pages.");
            }

            if (!seen.Add(page))
            {
                throw new InvalidOperationException($"Drone {Self}: drone {from} asked for page {page} twice in one request of {request.Pages.Length} page(s).");
            }
        }
    }

    /// <summary>
    /// The diffs asked for, page by page in the request's order, up to <see cref="LrcEngine.MaxReplyBytes"/> (one diff at least):
    /// a reply may stop early, inside a page's intervals even, and the asker asks again for what it lacks.
    /// </summary>
    private DiffReply DiffsFor(DiffRequest request)
    {
        _engine.Fault?.Invoke("serve-diff");
        var pages = new List<PageDiffs>(request.Pages.Length);
        var budget = _engine.MaxReplyBytes;
        long bytes = 0;
        var full = false;
        foreach (var (page, intervals) in request.Pages)
        {
            var entry = _heap.GetEntry(page);
            var diffs = new List<CoveredDiff>(1);
            lock (entry)
            {
                foreach (var interval in intervals)
                {
                    if (diffs.Count > 0 && diffs[^1].First <= interval && interval <= diffs[^1].Last)
                    {
                        continue; // covered by the diff of its run
                    }

                    CoveredDiff diff;
                    bool found;
                    lock (_gate)
                    {
                        found = _diffs.TryGetValue((page, interval), out diff);
                    }

                    // A pending run: its diff is made now. A run that went on into the open interval may need a
                    // second round when the interval asked for closed while its first part's diff was made.
                    for (var attempt = 0; !found && attempt < 2 && entry.TwinInterval != 0 && interval >= entry.TwinInterval; attempt++)
                    {
                        MakePendingDiff(entry);
                        lock (_gate)
                        {
                            found = _diffs.TryGetValue((page, interval), out diff);
                        }
                    }

                    if (!found)
                    {
                        throw new InvalidOperationException($"Drone {Self} has no diff of page {page} for its interval {interval}.");
                    }

                    if (diffs.Exists(d => d.First == diff.First))
                    {
                        continue;
                    }

                    if (bytes > 0 && bytes + diff.Bytes.Length + 32 > budget)
                    {
                        full = true; // the rest in the next reply
                        break;
                    }

                    diffs.Add(diff);
                    bytes += diff.Bytes.Length + 32; // the diff, its run and its bin header
                }
            }

            if (diffs.Count > 0 || !full)
            {
                diffs.Sort((a, b) => a.First.CompareTo(b.First));
                pages.Add(new PageDiffs(page, [.. diffs]));
            }

            if (full)
            {
                break;
            }
        }

        return new DiffReply([.. pages]);
    }

    /// <summary>This drone's copy of a page for a drone that lost its own to garbage collection (or joined since).</summary>
    private PageCopy PageFor(int page)
    {
        var entry = _heap.GetEntry(page);
        lock (entry)
        {
            if (entry.NeedsWholePage)
            {
                return new PageCopy(page, ReadOnlyMemory<byte>.Empty, new int[Drones]); // no copy here: the asker looks elsewhere
            }

            var applied = (entry.AppliedVector ?? new int[Drones]).ToArray();
            byte[] bytes;
            unsafe
            {
                // A twin is the page as it was before this drone's pending interval: send that, and say so.
                if (entry.TwinInterval != 0 && entry.HasTwin)
                {
                    bytes = new ReadOnlySpan<byte>(entry.Twin, _heap.PageSize).ToArray();
                    applied[Self] = entry.TwinInterval - 1;
                }
                else
                {
                    bytes = _heap.PageBytes(page).ToArray();
                    lock (_gate)
                    {
                        applied[Self] = _vt[Self];
                    }
                }
            }

            return new PageCopy(page, bytes, applied);
        }
    }

    private static long Sum(VectorTimestamp vt)
    {
        long sum = 0;
        foreach (var entry in vt.Entries)
        {
            sum += entry;
        }

        return sum;
    }

    /// <summary>What a miss installs for a page that lost diffs with a removed drone: a live copy (or none), its applied vector, our own diffs it lacks.</summary>
    private sealed record Adoption(ReadOnlyMemory<byte>? Bytes, int[] Applied, List<(long Order, int Drone, CoveredDiff Diff)> Own);
}
