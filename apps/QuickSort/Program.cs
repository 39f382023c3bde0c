using HiveMind;
using HiveMind.Apps.QuickSort;

// QuickSort recovers from failed drones (a failed drone's ranges are sorted again by the others).
return Tmk.Run<QuickSortOptions>(args, options => options.RecoversFromFailures = true, QuickSortApp.Run);
