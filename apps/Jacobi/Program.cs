using HiveMind;
using HiveMind.Apps.Jacobi;

// Jacobi does not recover from failed drones (the run stops, naming the drone); it owns its process.
return Tmk.Run<JacobiOptions>(args, options => options.EndProcess = Environment.Exit, JacobiApp.Run);
