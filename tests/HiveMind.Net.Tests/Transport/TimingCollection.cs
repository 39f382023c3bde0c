namespace HiveMind.Net.Tests.Transport;

/// <summary>Tests whose failure timeouts are short run alone, so that other tests' CPU load cannot starve heartbeats.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "Mesh timing";
}
