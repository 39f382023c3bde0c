using HiveMind;
using HiveMind.Apps.Water;

// Water does not recover from failed drones (the run stops, naming the drone); it owns its process.
return Tmk.Run<WaterOptions>(args, options => options.EndProcess = Environment.Exit, WaterApp.Run);
