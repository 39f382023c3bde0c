using System.Text.Json;
using System.Text.RegularExpressions;
using HiveMind.Consistency;
using HiveMind.Net.Codec;
using HiveMind.Wire;
using MessagePack;

namespace HiveMind.DroneTests;

/// <summary>
/// What drone 0 learns of the whole run at exit: every drone's statistics in one report (the table, --stats-json) and, in
/// a traced run, a ShiViz log whose vector clocks follow the run's happens-before order.
/// </summary>
public sealed class RunReportTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("hivemind-report-").FullName;

    [Fact]
    public void Report_RoundTripsThroughItsCodec()
    {
        var report = new RunReport(
            [("readFaults", 3), ("lockWaitNs", 123_456_789_012)],
            [("LockGrant", 4, 512)],
            TraceDropped: 2,
            [new TraceEvent(TraceEventKind.Release, 5, 7, [7, 0, 3])]);
        var read = RoundTrip(report, drones: 3);
        Assert.Equal(report.Counters, read.Counters);
        Assert.Equal(report.SentByKind, read.SentByKind);
        Assert.Equal(2, read.TraceDropped);
        var traced = Assert.Single(read.Trace);
        Assert.Equal((TraceEventKind.Release, 5, 7), (traced.Kind, traced.Object, traced.Interval));
        Assert.Equal([7, 0, 3], traced.Timestamp);
    }

    [Theory]
    [InlineData("vt", "trace event 0 has a VT of 2 entries in a run of 3 drones")]
    [InlineData("kind", "trace event 0 has an unknown kind 99")]
    [InlineData("name", "RunReport name of 65 characters (1 to 64)")]
    [InlineData("names", "RunReport holds 257 statistics, at most 256")]
    public void Report_FromAMemberGoneWrong_IsRefusedNamingWhatIsWrong(string fault, string expected)
    {
        var report = fault switch
        {
            "vt" => new RunReport([], [], 0, [new TraceEvent(TraceEventKind.Miss, 1, 1, [1, 1])]),
            "kind" => new RunReport([], [], 0, [new TraceEvent((TraceEventKind)99, 1, 1, [1, 1, 1])]),
            "name" => new RunReport([(new string('x', 65), 1)], [], 0, []),
            _ => new RunReport([.. Enumerable.Range(0, 257).Select(i => ($"n{i}", (long)i))], [], 0, []),
        };
        var error = Assert.Throws<InvalidDataException>(() => RoundTrip(report, drones: 3));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("64MiB", 4)]
    [InlineData("512MiB", 64)]
    [InlineData("512MiB", 256)]
    public void Trace_KeepsNoMoreEventsThanDroneZeroTakesInAReport(string gcThreshold, int slots)
    {
        // A drone whose trace filled up must not send a report drone 0 refuses (its link would close at the run's end).
        var trace = Drone.NewTrace(new DroneOptions { GcThreshold = gcThreshold, Trace = "run.shiviz" }, slots)!;
        Assert.True(trace.Capacity <= RunReport.MaxTraceEventsFor(slots),
            $"--gc-threshold {gcThreshold}, {slots} slots: a trace keeps {trace.Capacity} events, drone 0 takes {RunReport.MaxTraceEventsFor(slots)}");
    }

    [Theory]
    [InlineData(new byte[] { 0x94, 0xC1 }, "malformed RunReport")]
    [InlineData(new byte[] { 0x94, 0x90, 0x90, 0x00, 0xDD, 0x00, 0x10, 0x00, 0x00 }, "malformed RunReport")]
    [InlineData(new byte[] { 0x94, 0x91, 0x92, 0xA0, 0x01, 0x90, 0x00, 0x90 }, "RunReport name of 0 characters")]
    public void Report_ThatIsNotOne_IsRefusedAsInvalidData(byte[] body, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new MessagePackReader(body);
            RunReport.Read(ref reader, 3);
        });
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StatsJson_HoldsEveryDroneAndTheirTotal_AndTheProgramsBarriersApartFromTheRuntimes()
    {
        var path = Path.Combine(_folder, "stats.json");
        using (var cluster = new DroneCluster(3, new DroneOptions { HeapSize = "1MiB", Quiet = true, StatsJson = path }))
        {
            cluster.Run(id =>
            {
                var drone = cluster[id];
                var counter = drone.Distribute(id == 0 ? drone.Malloc(4096, 4096) : 0);
                drone.LockAcquire(2);
                drone.Heap.Write(counter, drone.Heap.Read<long>(counter) + 1);
                drone.LockRelease(2);
                drone.Barrier(0);
                drone.Barrier(1);
            });
        }

        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var drones = json.RootElement.GetProperty("drones").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], drones.Select(d => d.GetProperty("drone").GetInt32()));
        Assert.Empty(json.RootElement.GetProperty("missing").EnumerateArray());
        foreach (var drone in drones)
        {
            var id = drone.GetProperty("drone").GetInt32();
            Assert.True(drone.GetProperty("barriers").GetInt64() == 2, $"drone {id}: {drone.GetProperty("barriers")} program barriers in --stats-json, not 2");
            Assert.True(drone.GetProperty("runtimeBarriers").GetInt64() >= 2, $"drone {id}: {drone.GetProperty("runtimeBarriers")} runtime barriers (start, distribute, exit)");
        }

        var total = json.RootElement.GetProperty("total");
        foreach (var name in new[] { "writeFaults", "lockAcquiresRemote", "lockAcquiresLocal", "messagesSent", "bytesSent", "barriers" })
        {
            var sum = drones.Sum(d => d.GetProperty(name).GetInt64());
            Assert.True(total.GetProperty(name).GetInt64() == sum, $"total {name} is {total.GetProperty(name)}, the drones' sum {sum}");
        }

        Assert.Equal(3, total.GetProperty("lockAcquiresLocal").GetInt64() + total.GetProperty("lockAcquiresRemote").GetInt64());
        Assert.True(total.GetProperty("sentByKind").GetProperty("LockRequest").GetProperty("messages").GetInt64() >= 1, "no LockRequest in the total's messages by kind");
    }

    [Fact]
    public void Trace_IsAShiVizLogWhoseClocksFollowTheRunsHappensBefore()
    {
        var path = Path.Combine(_folder, "run.shiviz");
        using var drone1Done = new ManualResetEventSlim();
        using (var cluster = new DroneCluster(3, new DroneOptions { HeapSize = "1MiB", Quiet = true, Trace = path }))
        {
            cluster.Run(id =>
            {
                var drone = cluster[id];
                var x = drone.Distribute(id == 0 ? drone.Malloc(4096, 4096) : 0);
                var y = drone.Distribute(id == 0 ? drone.Malloc(4096, 4096) : 0);
                switch (id)
                {
                    case 0: // writes x under lock 3 (whose manager is drone 0)
                        drone.LockAcquire(3);
                        drone.Heap.Write(x, 1L);
                        drone.LockRelease(3);
                        break;
                    case 1: // takes lock 3 until it sees drone 0's write: its last grant comes after drone 0's release
                        while (true)
                        {
                            drone.LockAcquire(3);
                            var seen = drone.Heap.Read<long>(x);
                            drone.LockRelease(3);
                            if (seen == 1)
                            {
                                break;
                            }
                        }

                        drone1Done.Set();
                        break;
                    default:
                        // Synchronizes with nobody between the Distribute calls (whose misses drone 0 knows of) and the barrier,
                        // and arrives there only once drone 1 is done (told outside HiveMind, so no drone learns of it): its
                        // arrival is concurrent with drone 0's release, which comes first in time.
                        drone.Heap.Write(y, 7L);
                        Assert.True(drone1Done.Wait(TimeSpan.FromSeconds(30)), "drone 1 did not see drone 0's write within 30 s");
                        break;
                }

                drone.Barrier(0);
                Assert.Equal(7L, drone.Heap.Read<long>(y));
            });
        }

        var lines = File.ReadAllLines(path);
        Assert.Equal(ShiVizLog.Expression, lines[0]);
        Assert.Equal(string.Empty, lines[1]);
        var parser = new Regex(ShiVizLog.Expression);
        var events = new List<(string Host, Dictionary<string, int> Clock, string Text)>();
        foreach (var line in lines.Skip(2))
        {
            var match = parser.Match(line);
            Assert.True(match.Success, $"log line '{line}' does not match the log's own expression");
            var clock = JsonSerializer.Deserialize<Dictionary<string, int>>(match.Groups["clock"].Value)!;
            events.Add((match.Groups["host"].Value, clock, match.Groups["event"].Value));
        }

        var byHost = events.GroupBy(e => e.Host).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(["drone0", "drone1", "drone2"], byHost.Keys.Order());
        foreach (var (host, own) in byHost)
        {
            for (var i = 0; i < own.Count; i++)
            {
                Assert.True(own[i].Clock.GetValueOrDefault(host) == i + 1, $"{host}'s event {i + 1} ({own[i].Text}) has its own clock entry {own[i].Clock.GetValueOrDefault(host)}");

                // ShiViz's rule: an event that knows another drone's m-th event knows all that event knew.
                foreach (var (other, m) in own[i].Clock.Where(c => c.Key != host))
                {
                    var known = byHost[other][m - 1].Clock;
                    Assert.True(known.All(k => own[i].Clock.GetValueOrDefault(k.Key) >= k.Value),
                        $"{host}'s '{own[i].Text}' knows {other}'s event {m} but not all it knew: {Show(own[i].Clock)} vs {Show(known)}");
                }
            }
        }

        int Index(string host, string text) => byHost[host].FindLastIndex(e => e.Text == text) + 1;
        var release = Index("drone0", "release lock 3");
        var lastGrant = byHost["drone1"].Last(e => e.Text == "acquire lock 3 granted");
        Assert.True(release > 0 && lastGrant.Clock.GetValueOrDefault("drone0") >= release,
            $"drone 1's last grant of lock 3 {Show(lastGrant.Clock)} does not know drone 0's release (its event {release})");
        var arrived2 = byHost["drone2"].Single(e => e.Text == "barrier 0 arrived");
        Assert.True(arrived2.Clock.GetValueOrDefault("drone0") < release, $"drone 2's arrival {Show(arrived2.Clock)} knows drone 0's release, with which it is concurrent");
        var arrival2 = Index("drone2", "barrier 0 arrived");
        Assert.True(byHost["drone0"][release - 1].Clock.GetValueOrDefault("drone2") < arrival2,
            $"drone 0's release {Show(byHost["drone0"][release - 1].Clock)} knows drone 2's arrival at barrier 0 (its event {arrival2}), with which it is concurrent");
        foreach (var host in byHost.Keys)
        {
            var released = byHost[host].Single(e => e.Text == "barrier 0 released");
            foreach (var other in byHost.Keys)
            {
                var arrival = Index(other, "barrier 0 arrived");
                Assert.True(released.Clock.GetValueOrDefault(other) >= arrival, $"{host}'s release from barrier 0 {Show(released.Clock)} does not know {other}'s arrival (its event {arrival})");
            }
        }
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static string Show(Dictionary<string, int> clock) => JsonSerializer.Serialize(clock);

    private static RunReport RoundTrip(RunReport report, int drones)
    {
        var reader = new MessagePackReader(WireBodies.Of(report, RunReport.Write));
        return RunReport.Read(ref reader, drones);
    }
}
