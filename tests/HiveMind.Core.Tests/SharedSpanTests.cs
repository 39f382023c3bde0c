using System.Runtime.Loader;
using HiveMind.Memory;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace HiveMind.Core.Tests;

/// <summary>
/// The span epoch check at the heap: spans are valid until the next synchronization, which the heap learns of through
/// <see cref="SharedHeap.BeginSynchronization"/> (the engine and the drone call it; <c>SharedSpanDroneTests</c> covers them).
/// Spans are ref structs: a use that must throw is passed its span as an argument (never captured) or wrapped in try/catch.
/// </summary>
public sealed class SharedSpanTests
{
    private const long Address = 0x2040;
    private const int Count = 16;
    private static readonly HeapOptions Checked = new() { PageSize = 4096, HeapSize = 16 * 4096, CheckSpans = true };
    private static readonly HeapOptions Unchecked = Checked with { CheckSpans = false };

    [Theory]
    [InlineData(nameof(SpanSynchronizationKind.Acquire), 3, "the acquire of lock 3")]
    [InlineData(nameof(SpanSynchronizationKind.Release), 3, "the release of lock 3")]
    [InlineData(nameof(SpanSynchronizationKind.Attempt), 5, "the attempt at lock 5")]
    [InlineData(nameof(SpanSynchronizationKind.Barrier), 2, "barrier 2")]
    [InlineData(nameof(SpanSynchronizationKind.Distribute), 0, "a Distribute")]
    [InlineData(nameof(SpanSynchronizationKind.Exit), 0, "the drone's Exit")]
    public void Spans_UsedAfterASynchronization_ThrowNamingAddressLengthAndSynchronization(string kind, int id, string named)
    {
        using var heap = new SharedHeap(Checked);
        var write = heap.WriteSpan<int>(Address, Count);
        var read = heap.ReadSpan<int>(Address, Count);
        write[1] = 7;
        Assert.True(read[1] == 7, $"a read span at 0x{Address:X} reads {read[1]} where its write span wrote 7 before any synchronization");

        heap.BeginSynchronization(Enum.Parse<SpanSynchronizationKind>(kind), id);
        var written = ThrowsStale(write, static s => s[1] = 8, "write span's indexer");
        var readen = ThrowsStale(read, static s => _ = s[1], "read span's indexer");
        foreach (var error in new[] { written, readen })
        {
            Assert.Contains($"0x{Address:X}", error.Message, StringComparison.Ordinal);
            Assert.Contains($"{Count} Int32 element(s) ({Count * sizeof(int)} bytes)", error.Message, StringComparison.Ordinal);
            Assert.Contains($"used after {named}", error.Message, StringComparison.Ordinal);
            Assert.Contains("take the span again after synchronizing", error.Message, StringComparison.Ordinal);
            Assert.StartsWith("A span", error.Message, StringComparison.Ordinal); // this heap belongs to no drone
        }

        Assert.True(heap.Read<int>(Address + sizeof(int)) == 7, $"the stale write at 0x{Address + sizeof(int):X} went through");
    }

    [Fact]
    public void Spans_TakenAfterTheSynchronization_Work()
    {
        using var heap = new SharedHeap(Checked);
        heap.WriteSpan<long>(Address, Count)[0] = 1;
        heap.BeginSynchronization(SpanSynchronizationKind.Barrier, 0);
        var write = heap.WriteSpan<long>(Address, Count);
        write[0] += 41;
        Assert.True(heap.ReadSpan<long>(Address, Count)[0] == 42, $"a span taken after barrier 0 reads {heap.Read<long>(Address)} at 0x{Address:X}, not 42");
    }

    [Fact]
    public void Slices_OfAStaleSpan_Throw_AndSlicesKeepTheirOwnAddressAndEpoch()
    {
        using var heap = new SharedHeap(Checked);
        var write = heap.WriteSpan<int>(Address, Count);
        var slice = write.Slice(4, 8);
        var tail = heap.ReadSpan<int>(Address, Count).Slice(12);
        Assert.True(slice.Address == Address + (4 * sizeof(int)), $"the slice from element 4 is at 0x{slice.Address:X}, not 0x{Address + (4 * sizeof(int)):X}");
        Assert.True(tail.Address == Address + (12 * sizeof(int)) && tail.Length == 4, $"the tail from element 12 is {tail.Length} at 0x{tail.Address:X}");

        heap.BeginSynchronization(SpanSynchronizationKind.Acquire, 1);
        ThrowsStale(write, static s => _ = s.Slice(4), "Slice(start) of a stale span");
        ThrowsStale(write, static s => _ = s.Slice(4, 8), "Slice(start, length) of a stale span");
        var error = ThrowsStale(slice, static s => s[0] = 1, "a slice made before the synchronization");
        Assert.Contains($"0x{Address + (4 * sizeof(int)):X}", error.Message, StringComparison.Ordinal);
        Assert.Contains("8 Int32 element(s)", error.Message, StringComparison.Ordinal);
        ThrowsStale(tail, static s => _ = s[0], "a read-only slice made before the synchronization");
    }

    [Fact]
    public void Conversions_OfAStaleSpan_Throw()
    {
        using var heap = new SharedHeap(Checked);
        var write = heap.WriteSpan<int>(Address, Count);
        var read = heap.ReadSpan<int>(Address, Count);
        heap.BeginSynchronization(SpanSynchronizationKind.Release, 4);
        ThrowsStale(write, static s => _ = (Span<int>)s, "conversion to Span<int>");
        ThrowsStale(write, static s => _ = (ReadOnlySpan<int>)s, "conversion to ReadOnlySpan<int>");
        ThrowsStale(write, static s => _ = (SharedReadOnlySpan<int>)s, "conversion to SharedReadOnlySpan<int>");
        ThrowsStale(write, static s => _ = s.ToSpan(), "ToSpan");
        ThrowsStale(read, static s => _ = (ReadOnlySpan<int>)s, "conversion to ReadOnlySpan<int>");
        ThrowsStale(read, static s => _ = s.ToReadOnlySpan(), "ToReadOnlySpan");
    }

    [Fact]
    public void Members_OfAStaleSpan_Throw()
    {
        using var heap = new SharedHeap(Checked);
        var write = heap.WriteSpan<int>(Address, Count);
        var read = heap.ReadSpan<int>(Address, Count);
        heap.BeginSynchronization(SpanSynchronizationKind.Barrier, 1);
        ThrowsStale(write, static s => s.CopyTo(new int[Count]), "CopyTo");
        ThrowsStale(write, static s => s.TryCopyTo(new int[Count]), "TryCopyTo");
        ThrowsStale(write, static s => s.Fill(1), "Fill");
        ThrowsStale(write, static s => s.Clear(), "Clear");
        ThrowsStale(write, static s => s.ToArray(), "ToArray");
        ThrowsStale(write, static s => s.GetEnumerator(), "GetEnumerator");
        ThrowsStale(write, static s => _ = s.Address, "Address");
        ThrowsStale(read, static s => _ = s.Slice(1), "Slice(start)");
        ThrowsStale(read, static s => _ = s.Slice(1, 2), "Slice(start, length)");
        ThrowsStale(read, static s => s.CopyTo(new int[Count]), "CopyTo");
        ThrowsStale(read, static s => s.TryCopyTo(new int[Count]), "TryCopyTo");
        ThrowsStale(read, static s => s.ToArray(), "ToArray");
        ThrowsStale(read, static s => s.GetEnumerator(), "GetEnumerator");
        ThrowsStale(read, static s => _ = s.Address, "Address");
        Assert.True(write.Length == Count && read.Length == Count && !write.IsEmpty, "Length and IsEmpty, which touch no shared memory, answer after the synchronization");
    }

    [Fact]
    public void Enumeration_ThatOutlivesASynchronization_Throws()
    {
        using var heap = new SharedHeap(Checked);
        var write = heap.WriteSpan<int>(Address, Count);
        var seen = 0;
        try
        {
            foreach (ref var item in write)
            {
                item = seen++;
                if (seen == 3)
                {
                    heap.BeginSynchronization(SpanSynchronizationKind.Acquire, 6);
                }
            }

            Assert.Fail($"a foreach over a span at 0x{Address:X} went on after the acquire of lock 6 at element 3 (it saw {seen})");
        }
        catch (InvalidOperationException error)
        {
            Assert.True(seen == 3, $"the enumeration stopped after {seen} elements, not at the 4th, the first after the acquire");
            Assert.Contains("the acquire of lock 6", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Members_OfAValidSpan_BehaveAsASpans()
    {
        using var heap = new SharedHeap(Checked);
        var write = heap.WriteSpan<int>(Address, Count);
        write.Fill(3);
        write.Slice(1, 2).Clear();
        var sum = 0;
        foreach (var item in heap.ReadSpan<int>(Address, Count))
        {
            sum += item;
        }

        var copy = new int[Count];
        write.CopyTo(copy);
        Assert.True(sum == 3 * (Count - 2), $"the elements at 0x{Address:X} sum to {sum}, not {3 * (Count - 2)}");
        Assert.Equal(copy, heap.ReadSpan<int>(Address, Count).ToArray());
        Assert.False(write.TryCopyTo(new int[Count - 1]), "TryCopyTo into a shorter array succeeded");
        Assert.True(heap.ReadSpan<int>(Address, 0).IsEmpty, "a span of no element is not empty");
        Assert.Equal($"SharedSpan<Int32>[{Count}] at 0x{Address:X}", write.ToString());
        SharedSpan<int> none = default;
        Span<int> raw = none;
        Assert.True(none.IsEmpty && none.Length == 0 && none.Address == 0 && raw.IsEmpty, "a default span is not empty at address 0");
    }

    [Fact]
    public void Spans_ThatOutliveSeveralSynchronizations_NameTheFirstAndTheLast()
    {
        using var heap = new SharedHeap(Checked);
        var read = heap.ReadSpan<byte>(Address, 3);
        heap.BeginSynchronization(SpanSynchronizationKind.Acquire, 1);
        heap.BeginSynchronization(SpanSynchronizationKind.Release, 1);
        heap.BeginSynchronization(SpanSynchronizationKind.Barrier, 9);
        var error = ThrowsStale(read, static s => _ = s[0], "a span three synchronizations old");
        Assert.Contains("used after the acquire of lock 1 ended its validity", error.Message, StringComparison.Ordinal);
        Assert.Contains("(3 synchronizations since, the last barrier 9)", error.Message, StringComparison.Ordinal);
        for (var i = 0; i < 20; i++)
        {
            heap.BeginSynchronization(SpanSynchronizationKind.Barrier, i);
        }

        error = ThrowsStale(read, static s => _ = s[0], "a span 23 synchronizations old");
        Assert.True(error.Message.Contains("used after an earlier synchronization ended its validity (23 synchronizations since, the last barrier 19)", StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public void Unchecked_NothingThrows_AndTheEpochStaysPut()
    {
        using var heap = new SharedHeap(Unchecked);
        Assert.False(heap.ChecksSpans, "a heap made with CheckSpans = false checks spans");
        var write = heap.WriteSpan<int>(Address, Count);
        var read = heap.ReadSpan<int>(Address, Count);
        var epoch = heap.SpanEpoch;
        heap.BeginSynchronization(SpanSynchronizationKind.Acquire, 1);
        heap.BeginSynchronization(SpanSynchronizationKind.Barrier, 2);
        write[0] = 5;
        write.Slice(2).Fill(6);
        Span<int> raw = write;
        raw[1] = 4;
        Assert.True(read[0] == 5 && read.Slice(1)[0] == 4 && ((ReadOnlySpan<int>)read)[2] == 6, $"unchecked spans at 0x{Address:X} read {read[0]}, {read[1]}, {read[2]}, not 5, 4, 6");
        Assert.True(heap.SpanEpoch == epoch, $"the span epoch of an unchecked heap moved from {epoch} to {heap.SpanEpoch}");
    }

    [Fact]
    public void RawSpan_TakenByTheConversion_IsNotChecked()
    {
        using var heap = new SharedHeap(Checked);
        Span<int> raw = heap.WriteSpan<int>(Address, Count);
        heap.BeginSynchronization(SpanSynchronizationKind.Barrier, 0);
        raw[0] = 11; // the opt-out: the program takes the responsibility
        Assert.True(heap.Read<int>(Address) == 11, $"a raw span's write at 0x{Address:X} reads back {heap.Read<int>(Address)}");
    }

    [Fact]
    public void Spans_OfADisposedHeap_Throw_EvenUnchecked()
    {
        var heap = new SharedHeap(Unchecked);
        var write = heap.WriteSpan<int>(Address, Count);
        heap.Dispose();
        var error = ThrowsStale(write, static s => s[0] = 1, "a span of a disposed heap");
        Assert.Contains("the heap's disposal", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SharedArraySpans_AreChecked()
    {
        using var heap = new SharedHeap(Checked);
        var xs = new SharedArray<long>(heap, Address, Count);
        var write = xs.AsSpan(2, 4);
        var read = xs.AsReadOnlySpan();
        Assert.True(write.Address == Address + 16, $"AsSpan(2, 4) of an array at 0x{Address:X} is at 0x{write.Address:X}");
        heap.BeginSynchronization(SpanSynchronizationKind.Release, 2);
        ThrowsStale(write, static s => s[0] = 1, "SharedArray.AsSpan");
        ThrowsStale(read, static s => _ = s[0], "SharedArray.AsReadOnlySpan");
        xs.AsSpan(2, 4)[0] = 9;
        Assert.True(xs[2] == 9, $"a span taken again wrote {xs[2]} at 0x{xs.AddressOf(2):X}, not 9");
    }

    /// <summary>
    /// The default follows how the program was built: an assembly the compiler built as a Debug build does (unoptimized,
    /// as <c>dotnet build -c Debug</c> compiles it) checks spans, an optimized one does not.
    /// </summary>
    [Theory]
    [InlineData(OptimizationLevel.Debug, true)]
    [InlineData(OptimizationLevel.Release, false)]
    public void ChecksSpansFor_ABuildOfEachKind_IsOnForADebugBuildOnly(OptimizationLevel optimization, bool expected)
    {
        var compilation = CSharpCompilation.Create(
            $"SpanCheckProgram{optimization}",
            [CSharpSyntaxTree.ParseText("public static class Program { public static int Main() => 0; }")],
            [MetadataReference.CreateFromFile(typeof(object).Assembly.Location)],
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: optimization));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        Assert.True(emitted.Success, $"the {optimization} program did not compile: {string.Join("; ", emitted.Diagnostics)}");
        image.Position = 0;
        var context = new AssemblyLoadContext($"span-check-{optimization}", isCollectible: true);
        try
        {
            var program = context.LoadFromStream(image);
            Assert.True(
                HeapOptions.ChecksSpansFor(program) == expected,
                $"a {optimization} build checks spans by default: {HeapOptions.ChecksSpansFor(program)}, not {expected}");
        }
        finally
        {
            context.Unload();
        }

        Assert.False(HeapOptions.ChecksSpansFor(null), "a process with no managed entry assembly checks spans by default");
    }

    private static InvalidOperationException ThrowsStale<T>(SharedSpan<T> span, Action<SharedSpan<T>> use, string what)
        where T : unmanaged
    {
        try
        {
            use(span);
        }
        catch (InvalidOperationException error)
        {
            return error;
        }

        Assert.Fail($"{what}: a stale span at 0x{SpanAddress(span.ToString())} did not throw");
        return null!;
    }

    private static InvalidOperationException ThrowsStale<T>(SharedReadOnlySpan<T> span, Action<SharedReadOnlySpan<T>> use, string what)
        where T : unmanaged
    {
        try
        {
            use(span);
        }
        catch (InvalidOperationException error)
        {
            return error;
        }

        Assert.Fail($"{what}: a stale read-only span at 0x{SpanAddress(span.ToString())} did not throw");
        return null!;
    }

    private static string SpanAddress(string described) => described[(described.LastIndexOf("0x", StringComparison.Ordinal) + 2)..];
}
