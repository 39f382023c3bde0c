using HiveMind;
using HiveMind.Apps.Tsp;

// TSP does not recover from failed drones (the run stops, naming the drone); it owns its process.
return Tmk.Run<TspOptions>(args, options => options.EndProcess = Environment.Exit, TspApp.Run);
