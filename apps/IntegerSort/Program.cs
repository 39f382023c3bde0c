using HiveMind;
using HiveMind.Apps.IntegerSort;

// Integer sort does not recover from failed drones (the run stops, naming the drone); it owns its process.
return Tmk.Run<IntegerSortOptions>(args, options => options.EndProcess = Environment.Exit, IntegerSortApp.Run);
