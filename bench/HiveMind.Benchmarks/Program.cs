using BenchmarkDotNet.Running;

namespace HiveMind.Benchmarks;

internal static class Program
{
    private static int Main(string[] args)
    {
        // "net" runs the two-process mesh benchmark (BenchmarkDotNet measures within one process only).
        if (args is ["net", ..])
        {
            return NetBench.Run(args[1..]);
        }

        // "proto" runs the protocol benchmark as a run of drones (this process is drone 0).
        if (args is ["proto", ..])
        {
            return ProtoBench.Run(args[1..]);
        }

        // "formation" times forming a mesh with and without outsiders holding idle connections.
        if (args is ["formation", ..])
        {
            return FormationBench.Run(args[1..]);
        }

        if (args is ["--net-server", var registry])
        {
            return NetBench.Serve(registry);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
