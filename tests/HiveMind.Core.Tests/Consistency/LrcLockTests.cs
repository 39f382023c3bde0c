using HiveMind.Consistency;

namespace HiveMind.Core.Tests.Consistency;

public sealed class LrcLockTests
{
    [Fact]
    public void DuplicateLockRequest_AtTheManager_IsNotGrantedTwice()
    {
        using var cluster = new InMemoryCluster(3);

        // Lock 2 is managed by drone 2, which holds its token. A request of drone 0 arrives twice (a late
        // retry): the first is granted, the copy must be recognised and dropped, not forwarded or granted.
        var request = new LockRequest(2, 0, 1, [0, 0, 0]);
        cluster.Engines[2].Handle(0, request);
        cluster.Engines[2].Handle(0, request);
        cluster.Engines[2].Handle(0, request with { Sequence = 0 });

        // A barrier flushes the queues: everything sent above has been delivered when it completes.
        cluster.Run(id => cluster.Engines[id].Barrier(0));
        var grants = cluster.Delivered.GetValueOrDefault((0, nameof(LockGrant)));
        var forwards = cluster.Delivered.Where(d => d.Key.Type == nameof(ForwardedLockRequest)).Sum(d => d.Value);
        Assert.True(grants == 1, $"drone 0 received {grants} grant(s) of lock 2 for one request sent three times");
        Assert.True(forwards == 0, $"the manager forwarded {forwards} copy(ies) of a request it had already granted");
    }
}

/// <summary>
/// Lock attempts (<see cref="LrcEngine.TryAcquire"/>): an attempt never waits for the lock; one refused stays queued, and
/// the token that later reaches its drone goes on, with every record it carries, to the next drone that asked, or is
/// taken in by that drone's own next acquire.
/// </summary>
public sealed class LrcLockAttemptTests
{
    // Lock 0 is managed by drone 0, which starts with its token; X and Y are words on different pages.
    private const int Lock = 0;
    private const long X = 64;
    private const long Y = 5 * 4096;

    [Fact]
    public void Attempt_AtALockFreeOnAnotherDrone_IsGranted_WithTheLastHoldersWrites()
    {
        using var cluster = new InMemoryCluster(3);
        cluster.Run(id =>
        {
            if (id == 0)
            {
                cluster.Engines[0].Acquire(Lock);
                cluster.Heaps[0].Write(X, 42);
                cluster.Engines[0].Release(Lock);
            }
        });

        var got = false;
        var read = 0;
        cluster.Run(id =>
        {
            if (id == 1)
            {
                got = cluster.Engines[1].TryAcquire(Lock);
                read = got ? cluster.Heaps[1].Read<int>(X) : -1;
                if (got)
                {
                    cluster.Engines[1].Release(Lock);
                }
            }
        });

        Assert.True(got, "drone 1's attempt at lock 0, released by drone 0 and free, was refused");
        Assert.True(read == 42, $"drone 1 read {read} at address {X} after its attempt at lock 0 was granted, not drone 0's 42");
    }

    [Fact]
    public void Attempt_WhileAnotherDroneHoldsTheLock_IsRefused_AndTheLockGoesOnWithTheHoldersWrites()
    {
        using var cluster = new InMemoryCluster(3);
        HoldAndRefuse(cluster, holder: 0);

        // Drone 2 asks next: its request is queued behind drone 1's refused attempt, so the token reaches drone 2 through
        // drone 1, which never takes in drone 0's records and must pass them on.
        var read2 = 0;
        cluster.Run(id =>
        {
            if (id == 2)
            {
                cluster.Engines[2].Acquire(Lock);
                read2 = cluster.Heaps[2].Read<int>(X);
                cluster.Heaps[2].Write(Y, 7);
                cluster.Engines[2].Release(Lock);
            }
            else if (id == 0)
            {
                cluster.WaitHandled<ForwardedLockRequest>(1, 1);
                cluster.Engines[0].Release(Lock);
            }
        });
        Assert.True(read2 == 42, $"drone 2 read {read2} at address {X} under lock 0 (passed on by drone 1, whose attempt was refused), not drone 0's 42");

        var (x1, y1) = (0, 0);
        cluster.Run(id =>
        {
            if (id == 1)
            {
                cluster.Engines[1].Acquire(Lock);
                (x1, y1) = (cluster.Heaps[1].Read<int>(X), cluster.Heaps[1].Read<int>(Y));
                cluster.Engines[1].Release(Lock);
            }
        });
        Assert.True((x1, y1) == (42, 7), $"drone 1 read ({x1}, {y1}) at addresses ({X}, {Y}) under lock 0 after drones 0 and 2, not (42, 7)");
    }

    [Fact]
    public void RefusedAttempt_WhoseTokenCameLater_IsTakenInByTheDronesNextAcquire()
    {
        using var cluster = new InMemoryCluster(3);
        HoldAndRefuse(cluster, holder: 0);

        // Drone 0 releases: the token goes to drone 1, queued by its attempt, and stays there free.
        cluster.Run(id =>
        {
            if (id == 0)
            {
                cluster.Engines[0].Release(Lock);
            }
        });
        cluster.WaitHandled<LockGrant>(1, 1);

        var locals = cluster.Engines[1].Statistics.LockAcquiresLocal;
        var read = 0;
        cluster.Run(id =>
        {
            if (id == 1)
            {
                cluster.Engines[1].Acquire(Lock);
                read = cluster.Heaps[1].Read<int>(X);
                cluster.Engines[1].Release(Lock);
            }
        });
        Assert.True(cluster.Engines[1].Statistics.LockAcquiresLocal == locals + 1, "drone 1's acquire after its token came was not served locally");
        Assert.True(read == 42, $"drone 1 read {read} at address {X} under lock 0, acquired with the token its refused attempt brought, not drone 0's 42");
    }

    [Fact]
    public void Acquire_AfterARefusedAttempt_WaitsForThatAttemptsGrant_AndSeesTheHoldersWrites()
    {
        using var cluster = new InMemoryCluster(3);
        HoldAndRefuse(cluster, holder: 0);

        var read = 0;
        cluster.Run(
            id =>
            {
                if (id == 1)
                {
                    cluster.Engines[1].Acquire(Lock); // before the token came: takes the queued attempt over
                    read = cluster.Heaps[1].Read<int>(X);
                    cluster.Engines[1].Release(Lock);
                }
                else if (id == 0)
                {
                    // Released only once drone 1's acquire has taken its queued attempt over.
                    Assert.True(
                        SpinWait.SpinUntil(() => cluster.Engines[1].Statistics.LockAttemptsTakenOver == 1, TimeSpan.FromSeconds(30)),
                        "drone 1's acquire did not take over its refused attempt's queued request within 30 s");
                    cluster.Engines[0].Release(Lock);
                }
            },
            TimeSpan.FromSeconds(20));
        Assert.True(read == 42, $"drone 1 read {read} at address {X} under lock 0, not drone 0's 42");
        var requests = cluster.SentTo<LockRequest>(0);
        Assert.True(requests == 1, $"drone 1 sent lock 0's manager {requests} requests for one refused attempt and one acquire, not 1");
    }

    /// <summary>
    /// A refused attempt stays queued while its drone goes on through a barrier that collects garbage: the hand-off to it
    /// afterwards starts past what the collection dropped (it used to ask for dropped records, throw, and lose the token).
    /// </summary>
    [Fact]
    public void RefusedAttempt_QueuedAcrossACollection_GetsTheLockAfterIt()
    {
        using var cluster = new InMemoryCluster(3, collectionThreshold: 1);
        HoldAndRefuse(cluster, holder: 0);

        // Every drone meets at a barrier that collects (drone 0 still holds lock 0), then drone 0 releases to drone 1's
        // queued attempt, and drone 1 acquires.
        var collections = cluster.Engines[0].Statistics.GarbageCollections;
        var read = 0;
        cluster.Run(id =>
        {
            cluster.Heaps[id].Write(Y + (id * 4096), id); // consistency data on every drone
            cluster.Engines[id].Barrier(1);
            if (id == 0)
            {
                cluster.Heaps[0].Write(X, 43);
                cluster.Engines[0].Release(Lock);
            }
            else if (id == 1)
            {
                cluster.Engines[1].Acquire(Lock);
                read = cluster.Heaps[1].Read<int>(X);
                cluster.Engines[1].Release(Lock);
            }
        });
        Assert.True(cluster.Engines[0].Statistics.GarbageCollections > collections, "the barrier did not collect garbage: the test exercised nothing");
        Assert.True(read == 43, $"drone 1 read {read} at address {X} under lock 0 after drone 0 wrote 43 and released it past a collection, not 43");
    }

    /// <summary>
    /// A token that came for a refused attempt, from a drone that then failed: its records are taken in before the next
    /// barrier, so the collection there cannot drop them while the token still needs them (an acquire after it used to
    /// fail with "no record of interval ..." of the failed drone).
    /// </summary>
    [Fact]
    public void TokenOfARefusedAttempt_FromADroneThatFailed_SurvivesTheNextCollection()
    {
        using var cluster = new InMemoryCluster(3, collectionThreshold: 1);
        HoldAndRefuse(cluster, holder: 2);
        cluster.Run(id =>
        {
            if (id == 2)
            {
                cluster.Engines[2].Release(Lock);
            }
        });
        cluster.WaitHandled<LockGrant>(1, 1);
        cluster.Fail(2);

        var read = -1;
        cluster.Run(id =>
        {
            if (id == 2)
            {
                return;
            }

            cluster.Heaps[id].Write(Y + (id * 4096), id);
            cluster.Engines[id].Barrier(1);
            if (id == 1)
            {
                cluster.Engines[1].Acquire(Lock);
                read = cluster.Heaps[1].Read<int>(X);
                cluster.Engines[1].Release(Lock);
            }
        });
        Assert.True(read is 0 or 42, $"drone 1 read {read} at address {X} under lock 0, written 42 by drone 2 before it failed");
    }

    [Fact]
    public void Attempt_WhileThisDroneHoldsTheLock_IsRefusedWithoutAMessage()
    {
        using var cluster = new InMemoryCluster(2);
        var attempt = true;
        cluster.Run(id =>
        {
            if (id == 1)
            {
                cluster.Engines[1].Acquire(Lock);
                attempt = cluster.Engines[1].TryAcquire(Lock);
                cluster.Engines[1].Release(Lock);
            }
        });
        Assert.False(attempt, "drone 1's attempt at lock 0, which it held, was granted");
        Assert.True(cluster.SentTo<LockRequest>(0) == 1, $"drone 1 sent {cluster.SentTo<LockRequest>(0)} lock requests for one acquire and an attempt while holding");
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void DronesMixingAttemptsAndAcquires_OnOneCounter_LoseNoIncrement(int drones)
    {
        // Each drone adds under the lock until some of its attempts were refused (or a cap), so that refused attempts,
        // tokens passed on by drones that did not want them and acquires that take a queued attempt over all happen.
        const int WantedRefusals = 20;
        const int MostRounds = 5000;
        using var cluster = new InMemoryCluster(drones);
        var refused = new int[drones];
        var rounds = new int[drones];
        cluster.Run(id =>
        {
            var engine = cluster.Engines[id];
            var heap = cluster.Heaps[id];
            engine.Barrier(1);
            while (refused[id] < WantedRefusals && rounds[id] < MostRounds)
            {
                if (!engine.TryAcquire(Lock))
                {
                    refused[id]++;
                    engine.Acquire(Lock);
                }

                heap.Write(X, heap.Read<int>(X) + 1);
                rounds[id]++;
                engine.Release(Lock);
            }

            engine.Barrier(0);
        });

        var expected = rounds.Sum();
        for (var id = 0; id < drones; id++)
        {
            var value = cluster.Heaps[id].Read<int>(X);
            Assert.True(value == expected, $"drone {id} read the counter at address {X} as {value} after {drones} drones added {string.Join(", ", rounds)} under lock 0 (attempts refused: {string.Join(", ", refused)}), not {expected}");
        }

        Assert.True(refused.Sum() > 0, $"no attempt at lock 0 was refused in {expected} rounds: the test did not exercise refusals");
    }

    /// <summary>Drone <paramref name="holder"/> acquires lock 0 and writes 42 at X; drone 1's attempt at it is then refused (and stays queued).</summary>
    private static void HoldAndRefuse(InMemoryCluster cluster, int holder)
    {
        cluster.Run(id =>
        {
            if (id == holder)
            {
                cluster.Engines[holder].Acquire(Lock);
                cluster.Heaps[holder].Write(X, 42);
            }
        });
        var attempt = true;
        cluster.Run(id =>
        {
            if (id == 1)
            {
                attempt = cluster.Engines[1].TryAcquire(Lock);
            }
        });
        Assert.False(attempt, $"drone 1's attempt at lock 0 was granted while drone {holder} held it");
    }
}
