using HiveMind;
using HiveMind.Apps.Sor;

// Red-black SOR does not recover from failed drones (the run stops, naming the drone); it owns its process.
return Tmk.Run<SorOptions>(args, options => options.EndProcess = Environment.Exit, SorApp.Run);
