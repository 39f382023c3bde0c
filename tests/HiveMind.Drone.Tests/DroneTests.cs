using HiveMind.Allocation;

namespace HiveMind.DroneTests;

public sealed class DroneTests
{
    private static Drone NewDrone() =>
        Drone.Start(new DroneOptions { HeapSize = "1MiB", Locks = 8, Barriers = 4, Quiet = true });

    [Fact]
    public void LockRelease_NotHeld_ThrowsNamingDroneAndLock()
    {
        using var drone = NewDrone();
        var error = Assert.Throws<InvalidOperationException>(() => drone.LockRelease(3));
        Assert.Equal("Drone 0 releases lock 3, which it does not hold.", error.Message);
    }

    [Fact]
    public void LockAcquire_Held_IsNotReentrant()
    {
        using var drone = NewDrone();
        drone.LockAcquire(2);
        var error = Assert.Throws<InvalidOperationException>(() => drone.LockAcquire(2));
        Assert.Contains("not reentrant", error.Message, StringComparison.Ordinal);
        drone.LockRelease(2);
        drone.LockAcquire(2);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(8)]
    public void Locks_OutOfRange_Throw(int lockId)
    {
        using var drone = NewDrone();
        Assert.Throws<ArgumentOutOfRangeException>(() => drone.LockAcquire(lockId));
        Assert.Throws<ArgumentOutOfRangeException>(() => drone.LockRelease(lockId));
    }

    [Fact]
    public void Barrier_OutOfRange_Throws()
    {
        using var drone = NewDrone();
        Assert.Throws<ArgumentOutOfRangeException>(() => drone.Barrier(4));
    }

    [Fact]
    public void Malloc_BeyondHeap_ThrowsAndHeapStaysUsable()
    {
        using var drone = NewDrone();
        var a = drone.Malloc(1000);
        Assert.Throws<SharedHeapExhaustedException>(() => drone.Malloc(2L << 20));
        drone.Free(a);
        Assert.Throws<InvalidOperationException>(() => drone.Free(a));
        Assert.True(drone.Malloc(512 << 10) > 0);
    }

    [Fact]
    public void SingleDrone_CountsFaultsLocksAndBarriers()
    {
        using var drone = NewDrone();
        var xs = drone.Array<int>(drone.Distribute(drone.Malloc(3 * 4096, 4096)), 3 * 1024);
        drone.LockAcquire(0);
        xs[0] = 1;
        xs[1024] = 2;
        xs[1] = 3;
        drone.LockRelease(0);
        xs[2048] = 4;
        drone.Barrier(0);
        var stats = drone.Exit();
        Assert.Equal(3, stats.WriteFaults); // one per page; alone, a drone keeps pages writable once written
        Assert.Equal(0, stats.TwinsMade); // nobody else will ever ask a lone drone for a diff
        Assert.Equal(0, stats.IntervalsClosed);
        Assert.Equal(1, stats.LockAcquiresLocal);
        Assert.Equal(1, stats.Barriers); // barrier 0: the runtime's own are not the program's
        Assert.Equal(2, stats.RuntimeBarriers); // the start and the exit barrier (the last, to leave, comes after the statistics)
        Assert.Throws<InvalidOperationException>(() => drone.LockAcquire(0));
    }

    [Fact]
    public void Options_Invalid_NameTheOption()
    {
        Assert.Contains("--heap-size", Assert.Throws<OptionsException>(() => new DroneOptions { HeapSize = "12 apples" }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("--page-size", Assert.Throws<OptionsException>(() => new DroneOptions { PageSize = 3000 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("--heap-size", Assert.Throws<OptionsException>(() => new DroneOptions { HeapSize = "4097" }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("--locks", Assert.Throws<OptionsException>(() => new DroneOptions { Locks = 0 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Equal(3L << 30, ByteSize.Parse("3GiB", "--heap-size"));
        Assert.Equal(64L << 10, ByteSize.Parse("64k", "--heap-size"));
        Assert.Throws<OptionsException>(() => ByteSize.Parse("99999999999T", "--heap-size"));
    }

    [Fact]
    public void ParseOptions_UnknownOption_Throws()
    {
        var error = Assert.Throws<OptionsException>(() => Tmk.ParseOptions<DroneOptions>(["--nope"]));
        Assert.Contains("--nope: unknown option", error.Message, StringComparison.Ordinal);
        var parsed = Tmk.ParseOptions<DroneOptions>(["--heap-size", "2MiB", "--locks", "16"]);
        Assert.Equal(16, parsed.Locks);
        Assert.Equal(2L << 20, parsed.ToHeapOptions().HeapSize);
    }

    [Fact]
    public void AfterExit_ViewsAndTmk_ThrowInsteadOfTouchingFreedMemory()
    {
        var drone = NewDrone();
        var xs = drone.Array<long>(drone.Distribute(drone.Malloc(4096, 4096)), 512);
        xs[3] = 42;
        drone.Exit();
        drone.Dispose();
        var read = Assert.Throws<ObjectDisposedException>(() => xs[3]);
        Assert.Contains("disposed", read.Message, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => xs[4] = 1);
        Assert.Throws<ObjectDisposedException>(() => drone.Heap.Read<long>(xs.AddressOf(3)));
        Assert.Throws<InvalidOperationException>(() => drone.Barrier(0));
    }
}
