using HiveMind;
using HiveMind.Apps.QuickSort;

// QuickSort recovers from failed drones (a failed drone's ranges are sorted again by the others), and owns its process:
// HiveMind may end it when drone 0 is gone, or when the run stopped and the sort did not end by itself.
return Tmk.Run<QuickSortOptions>(
    args,
    options =>
    {
        options.RecoversFromFailures = true;
        options.EndProcess = Environment.Exit;
    },
    QuickSortApp.Run);
