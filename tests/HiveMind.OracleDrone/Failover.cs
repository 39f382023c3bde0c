using System.Globalization;

namespace HiveMind.OracleDrone;

/// <summary>
/// The failure scenario the end-to-end tests kill a drone in (3 drones). Drone 2 writes a page under lock 4 and
/// everyone meets at a barrier (so drones 0 and 1 hold its write notice, not its diff); then drone 2 takes
/// lock 5 (which it also manages) and holds it forever, and after a second barrier drone 1 asks for lock 5. The test kills drone 2
/// there. Drone 1 must then get lock 5, read the page drone 2 wrote (its old value, or drone 2's if it was
/// fetched in time: never a hang), and drones 0 and 1 must meet at a barrier without drone 2.
/// </summary>
internal static class Failover
{
    public const int PageLock = 4;
    public const int HeldLock = 5;
    public const int Written = 7;

    public static void Run(Drone drone)
    {
        if (drone.Count != 3)
        {
            throw new InvalidOperationException($"drone {drone.Id}: the failover scenario needs 3 drones, not {drone.Count}.");
        }

        var address = drone.Distribute(drone.Id == 0 ? drone.Malloc(drone.Heap.PageSize, drone.Heap.PageSize) : 0);
        Say(drone, $"pid={Environment.ProcessId}");
        drone.ViewChanged += view => Say(drone, $"view {view.Number}: live {string.Join(',', view.Live)}, removed {string.Join(',', view.Removed)}");
        if (drone.Id == 2)
        {
            drone.LockAcquire(PageLock);
            drone.Heap.Write(address, Written);
            drone.LockRelease(PageLock);
        }

        drone.Barrier(0);

        // Drone 2 takes lock 5 before the second barrier, so drone 1 asks for it only once drone 2 holds it.
        if (drone.Id == 2)
        {
            drone.LockAcquire(HeldLock);
            Say(drone, $"holding lock {HeldLock}");
        }

        drone.Barrier(2);
        switch (drone.Id)
        {
            case 2:
                Thread.Sleep(Timeout.Infinite); // until killed
                break;
            case 1:
                Say(drone, $"requesting lock {HeldLock}");
                drone.LockAcquire(HeldLock);
                Say(drone, $"acquired lock {HeldLock} in view {drone.View.Number}");
                var seen = drone.Heap.Read<int>(address);
                if (seen is not (0 or Written))
                {
                    throw new InvalidOperationException($"drone 1: address {address} written by failed drone 2 reads {seen}, expected 0 (older) or {Written}.");
                }

                Say(drone, $"read {seen} at {address}");
                drone.Heap.Write(address + 4, 1);
                drone.LockRelease(HeldLock);
                break;
        }

        drone.Barrier(1);
        Say(drone, $"passed barrier 1 in view {drone.View.Number} with live {string.Join(',', drone.View.Live)}");
        if (drone.Heap.Read<int>(address + 4) != 1)
        {
            throw new InvalidOperationException($"drone {drone.Id}: after barrier 1, address {address + 4} reads {drone.Heap.Read<int>(address + 4)}, expected drone 1's 1.");
        }
    }

    private static void Say(Drone drone, string text) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"failover drone {drone.Id}: {text}"));
}
