namespace HiveMind.Core.Tests.Consistency;

/// <summary>
/// Runs of intervals: a write fault on a page whose twin's diff is still pending keeps the twin, so one diff
/// covers the writer's consecutive intervals. The diff must lose no write and stand, for happens-before, where
/// its first interval stands.
/// </summary>
public sealed class LrcRunTests
{
    private const long Page = 4096 * 5;

    [Fact]
    public void RunOfIntervals_OneDiffCoversThem_AndLosesNoWrite()
    {
        using var cluster = new InMemoryCluster(2);
        cluster.Run(id =>
        {
            var drone = cluster.View(id);
            if (id == 0)
            {
                // Four intervals on one page (lock 2 is managed here: no messages). Word 0 is written in the first
                // and written back to its old value in the third, so only the page's last state tells.
                for (var interval = 1; interval <= 4; interval++)
                {
                    drone.Acquire(2);
                    drone.Heap.Write(Page + (4L * interval), interval * 11);
                    drone.Heap.Write(Page, interval == 1 ? 99 : interval == 3 ? 0 : drone.Heap.Read<int>(Page));
                    drone.Release(2);
                }
            }

            drone.Barrier(0);
            for (var interval = 1; interval <= 4; interval++)
            {
                var seen = drone.Heap.Read<int>(Page + (4L * interval));
                Assert.True(seen == interval * 11, $"drone {id} reads {seen} at 0x{Page + (4L * interval):X}, written in drone 0's interval {interval} as {interval * 11}");
            }

            var reverted = drone.Heap.Read<int>(Page);
            Assert.True(reverted == 0, $"drone {id} reads {reverted} at 0x{Page:X}, which drone 0 set to 99 and then back to 0");
        });

        var writer = cluster.Engines[0].Statistics;
        Assert.True(writer.TwinsMade == 1 && writer.TwinsKept == 3, $"drone 0 made {writer.TwinsMade} twin(s) and kept {writer.TwinsKept} for page 5 written in 4 intervals; expected 1 and 3");
        Assert.True(writer.DiffsMade == 1, $"drone 0 made {writer.DiffsMade} diffs of page 5 for its run of 4 intervals; expected 1");
        Assert.True(cluster.Engines[1].Statistics.DiffsApplied == 1, $"drone 1 applied {cluster.Engines[1].Statistics.DiffsApplied} diffs of page 5; expected 1");
    }

    /// <summary>
    /// Drone 1 writes W in its interval 1 under lock 1 and hands the lock to drone 2, then writes Z in its
    /// intervals 2 and 3 before drone 2 fetches the page: drone 2 gets one diff for intervals 1 to 3 and writes W
    /// in an interval that follows drone 1's interval 1 but is concurrent with 2 and 3. Drone 0 then needs both
    /// diffs: drone 1's run must go first (it stands where interval 1 stands), or its old W overwrites drone 2's.
    /// </summary>
    [Fact]
    public void RunDiff_AppliedWhereItsFirstIntervalStands_NewerForeignWriteSurvives()
    {
        const long W = Page, Z = Page + 64;
        using var cluster = new InMemoryCluster(3);
        using var released = new ManualResetEventSlim();
        using var granted = new ManualResetEventSlim();
        using var runWritten = new ManualResetEventSlim();
        var timeout = TimeSpan.FromSeconds(30);
        cluster.Run(id =>
        {
            var drone = cluster.View(id);
            if (id == 1)
            {
                drone.Acquire(1); // managed by drone 1
                drone.Heap.Write(W, 1);
                drone.Release(1);
                released.Set();
                Assert.True(granted.Wait(timeout), "drone 2 did not get lock 1 from drone 1");
                for (var value = 2; value <= 3; value++)
                {
                    drone.Acquire(4); // managed by drone 1 too: no messages, drone 2 learns nothing of these intervals
                    drone.Heap.Write(Z, value);
                    drone.Release(4);
                }

                runWritten.Set();
            }
            else if (id == 2)
            {
                // Lock 1 goes to drone 1 first: asked earlier, drone 2 would hold it while it waits for drone 1's intervals
                // 2 and 3, which drone 1 writes only after its own critical section under lock 1.
                Assert.True(released.Wait(timeout), "drone 1 did not release lock 1 after writing W");
                drone.Acquire(1);
                granted.Set();
                Assert.True(runWritten.Wait(timeout), "drone 1 did not write its intervals 2 and 3");
                var w = drone.Heap.Read<int>(W);
                Assert.True(w == 1, $"drone 2 reads W = {w} at 0x{W:X} under lock 1 after drone 1's critical section, expected 1");
                drone.Heap.Write(W, 5);
                drone.Release(1);
            }

            drone.Barrier(0);
            var seenW = drone.Heap.Read<int>(W);
            var seenZ = drone.Heap.Read<int>(Z);
            Assert.True(seenW == 5, $"drone {id} reads W = {seenW} at 0x{W:X} after the barrier, expected drone 2's 5 (drone 1's 1 came before it)");
            Assert.True(seenZ == 3, $"drone {id} reads Z = {seenZ} at 0x{Z:X} after the barrier, expected drone 1's 3");
        });

        Assert.True(cluster.Engines[1].Statistics.DiffsMade == 1, $"drone 1 made {cluster.Engines[1].Statistics.DiffsMade} diffs of page 5 for intervals 1 to 3; expected 1 (the run)");
    }

    /// <summary>
    /// A request for a run's closed part while the open interval writes the page: the diff covers the closed
    /// intervals only, and the twin goes on tracking the open one, so its writes before and after the request
    /// all reach the drones that ask for it.
    /// </summary>
    [Fact]
    public void RunSplitWhileOpen_OpenIntervalWritesAreNotLost()
    {
        const long W = Page, Z = Page + 64, Z2 = Page + 128, Y = Page + 192;
        using var cluster = new InMemoryCluster(2);
        using var opened = new ManualResetEventSlim();
        using var fetched = new ManualResetEventSlim();
        var timeout = TimeSpan.FromSeconds(30);
        cluster.Run(id =>
        {
            var drone = cluster.View(id);
            if (id == 1)
            {
                drone.Acquire(1); // managed by drone 1
                drone.Heap.Write(W, 1);
                drone.Release(1);
                drone.Heap.Write(Z, 7); // the run goes on into the open interval
                opened.Set();
                Assert.True(fetched.Wait(timeout), "drone 0 did not fetch the page while drone 1's interval was open");
                drone.Heap.Write(Z2, 8);
            }
            else
            {
                Assert.True(opened.Wait(timeout), "drone 1 did not open its second interval");
                drone.Acquire(1);
                var w = drone.Heap.Read<int>(W);
                Assert.True(w == 1, $"drone 0 reads W = {w} at 0x{W:X} under lock 1 after drone 1's critical section, expected 1");
                drone.Heap.Write(Y, 3);
                drone.Release(1);
                fetched.Set();
            }

            drone.Barrier(0);
            foreach (var (address, expected) in new[] { (W, 1), (Z, 7), (Z2, 8), (Y, 3) })
            {
                var seen = drone.Heap.Read<int>(address);
                Assert.True(seen == expected, $"drone {id} reads {seen} at 0x{address:X} after the barrier, expected {expected}");
            }
        });

        Assert.True(cluster.Engines[1].Statistics.DiffsMade == 2, $"drone 1 made {cluster.Engines[1].Statistics.DiffsMade} diffs of page 5; expected 2 (interval 1 at drone 0's request, then interval 2)");
    }

    /// <summary>
    /// The interleaving of a whole-page install that already holds a write of an interval its drone does not know:
    /// garbage collection at every barrier leaves drone 1 the only holder of page P; drone 1 closes twenty intervals
    /// and then writes X = 100 under lock 1 (drone 0 reads it, so that diff is made); drone 2 fetches P whole (X = 100
    /// in it), writes Y (a run starts), acquires lock 1 (it learns drone 1's interval, and its copy needs no diff)
    /// and writes X = 200. Drone 3 then acquires lock 1: drone 2's writes after its acquire must come after drone
    /// 1's interval, so X is 200. A run that went on across the write notice would hold X = 200 in a diff that
    /// stands where Y's interval stands, before drone 1's interval.
    /// </summary>
    [Fact]
    public void RunAcrossANoticeTheWholeCopyHeld_EndsThere_NewerWriteWins()
    {
        const long X = 4096 + 64, Y = 4096 + 128, Busy = 4096 * 2;
        using var cluster = new InMemoryCluster(4, collectionThreshold: 1);
        var heaps = cluster.Heaps;
        var engines = cluster.Engines;

        // Page 1 written by drone 1 only; the barrier collects, so drone 1 is its only holder.
        cluster.Run(id =>
        {
            if (id == 1)
            {
                heaps[1].Write(X, 1);
            }

            engines[id].Barrier(0);
        });

        // Drone 3 fetches page 1 whole now, before drone 1's writes below.
        cluster.Run(id =>
        {
            if (id == 3)
            {
                var x = heaps[3].Read<int>(X);
                Assert.True(x == 1, $"drone 3 reads X = {x} at 0x{X:X} after the barrier, expected 1");
            }
        });

        // Drone 1: twenty intervals on another page (lock 5 is its own: no messages), then X = 100 under lock 1.
        cluster.Run(id =>
        {
            if (id == 1)
            {
                for (var i = 0; i < 20; i++)
                {
                    engines[1].Acquire(5);
                    heaps[1].Write(Busy, i);
                    engines[1].Release(5);
                }

                engines[1].Acquire(1);
                heaps[1].Write(X, 100);
                engines[1].Release(1);
            }
        });

        // Drone 0 reads X under lock 1: drone 1 makes that interval's diff and drops its twin.
        cluster.Run(id =>
        {
            if (id == 0)
            {
                engines[0].Acquire(1);
                var x = heaps[0].Read<int>(X);
                engines[0].Release(1);
                Assert.True(x == 100, $"drone 0 reads X = {x} at 0x{X:X} under lock 1 after drone 1 wrote 100, expected 100");
            }
        });

        // Drone 2: fetches page 1 whole (X = 100 already in it), writes Y, acquires lock 1, writes X = 200.
        cluster.Run(id =>
        {
            if (id == 2)
            {
                heaps[2].Write(Y, 7);
                engines[2].Acquire(1);
                var x = heaps[2].Read<int>(X);
                Assert.True(x == 100, $"drone 2 reads X = {x} at 0x{X:X} under lock 1, expected drone 1's 100");
                heaps[2].Write(X, 200);
                engines[2].Release(1);
            }
        });

        // Drone 3 applies drone 1's interval and drone 2's writes: 200 must win.
        cluster.Run(id =>
        {
            if (id == 3)
            {
                engines[3].Acquire(1);
                var x = heaps[3].Read<int>(X);
                var y = heaps[3].Read<int>(Y);
                engines[3].Release(1);
                Assert.True(x == 200, $"drone 3 reads X = {x} at 0x{X:X} under lock 1 after drone 2 wrote 200 there under lock 1 (after drone 1's 100)");
                Assert.True(y == 7, $"drone 3 reads Y = {y} at 0x{Y:X} under lock 1 after drone 2 wrote 7 before its acquire");
            }
        });
    }

    /// <summary>
    /// A writer owes a reader more diffs than one reply may hold: with a reply limit of one diff, drone 0's miss on pages
    /// that drones 1 and 2 rewrote by turns takes a reply per diff, each asked for by what the last one left out, and
    /// every word ends up as last written.
    /// </summary>
    [Fact]
    public void DiffsOverTheReplyLimit_ComeInSeveralReplies_AndLoseNothing()
    {
        const int Pages = 4, Rounds = 10;
        const long Area = 4096;
        using var cluster = new InMemoryCluster(3);
        foreach (var engine in cluster.Engines)
        {
            engine.MaxReplyBytes = 1; // one diff per reply
        }

        // Rounds by turns, one at a time: each writer's interval takes the other's writes first, so each is a diff of its own.
        for (var round = 0; round < Rounds; round++)
        {
            var writer = 1 + (round % 2);
            var r = round;
            cluster.Run(id =>
            {
                if (id == writer)
                {
                    var drone = cluster.View(id);
                    drone.Acquire(1);
                    for (var page = 0; page < Pages; page++)
                    {
                        drone.Heap.Write(Area + (page * 4096L) + (8 * r), (id * 1000) + r);
                        drone.Heap.Write(Area + (page * 4096L) + 1024, (id * 1000) + r);
                    }

                    drone.Release(1);
                }
            });
        }

        cluster.Run(id =>
        {
            if (id == 0)
            {
                var drone = cluster.View(id);
                drone.Acquire(1);
                var words = drone.Heap.ReadSpan<long>(Area, Pages * 512).ToArray();
                drone.Release(1);
                for (var page = 0; page < Pages; page++)
                {
                    for (var round = 0; round < Rounds; round++)
                    {
                        var seen = (int)words[(page * 512) + round];
                        Assert.True(seen == ((1 + (round % 2)) * 1000) + round, $"drone 0 reads {seen} at 0x{Area + (page * 4096L) + (8 * round):X}, written by drone {1 + (round % 2)} in round {round}");
                    }

                    var last = (int)words[(page * 512) + 128];
                    Assert.True(last == 2000 + Rounds - 1, $"drone 0 reads {last} at 0x{Area + (page * 4096L) + 1024:X}, last written by drone 2 in round {Rounds - 1}");
                }
            }
        });

        // Each writer owes Pages * Rounds / 2 diffs, one a reply: all but its first reply are asked for again.
        var continued = cluster.Engines[0].Statistics.DiffRequestsContinued;
        var expected = 2 * ((Pages * Rounds / 2) - 1);
        Assert.True(continued == expected, $"drone 0 asked again {continued} time(s) for diffs a reply left out; with one diff a reply, expected {expected}");
    }
}
