using System.Xml.Linq;
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

    [Theory]
    [InlineData("src/HiveMind.Core/HiveMind.Core.csproj")]
    [InlineData("src/HiveMind.Net/HiveMind.Net.csproj")]
    public void LowerLayers_HaveNoProjectReferences(string project)
    {
        var path = Path.Combine(RepositoryRoot.Path, project);
        var references = XDocument.Load(path).Descendants("ProjectReference")
            .Select(e => (string?)e.Attribute("Include"))
            .ToList();
        Assert.True(references.Count == 0, $"{project} references {string.Join(", ", references)}; arrows never point back up");
    }
}
