using HiveMind.Memory;

namespace HiveMind.Core.Tests;

public sealed class LayeringTests
{
    [Fact]
    public void Core_ReferencesNoOtherHiveMindAssembly()
    {
        var references = typeof(SharedHeap).Assembly.GetReferencedAssemblies()
            .Select(a => a.Name!)
            .Where(name => name.StartsWith("HiveMind", StringComparison.Ordinal))
            .ToList();
        Assert.True(references.Count == 0, $"HiveMind.Core references {string.Join(", ", references)}");
    }
}
