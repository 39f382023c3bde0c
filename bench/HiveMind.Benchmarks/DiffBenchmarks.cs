using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using HiveMind.Diffs;
using HiveMind.Native;

namespace HiveMind.Benchmarks;

/// <summary>
/// Making and applying the diff of one 4 KiB page, against a plain copy and compare of the page.
/// Two page images A and B differ in the chosen pattern; each invocation encodes A against a twin holding
/// B and then B against the twin (now A), so every encode sees the pattern and nothing is restored by hand.
/// </summary>
[Config(typeof(BenchConfig))]
public unsafe class DiffBenchmarks
{
    private const int PageSize = 4096;

    private NativeBlock _a = null!;
    private NativeBlock _b = null!;
    private NativeBlock _twin = null!;
    private NativeBlock _target = null!;
    private byte[] _output = null!;
    private byte[] _diff = null!;
    private (int Offset, int Length)[] _runs = null!;

    public enum Change
    {
        Unchanged,
        OnePercentOfWords,
        AllChanged,
    }

    [Params(Change.Unchanged, Change.OnePercentOfWords, Change.AllChanged)]
    public Change Pattern { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _a = NativeBlock.AllocateZeroed(PageSize);
        _b = NativeBlock.AllocateZeroed(PageSize);
        _twin = NativeBlock.AllocateZeroed(PageSize);
        _target = NativeBlock.AllocateZeroed(PageSize);
        var rng = new Random(7);
        rng.NextBytes(new Span<byte>(_a.Pointer, PageSize));
        Unsafe.CopyBlock(_b.Pointer, _a.Pointer, PageSize);
        var words = (uint*)_b.Pointer;
        switch (Pattern)
        {
            case Change.OnePercentOfWords:
                for (var i = 0; i < PageSize / 4 / 100; i++)
                {
                    words[rng.Next(PageSize / 4)] ^= 0xFFFF_FFFF;
                }

                break;
            case Change.AllChanged:
                for (var i = 0; i < PageSize / 4; i++)
                {
                    words[i] ^= 0xFFFF_FFFF;
                }

                break;
        }

        Unsafe.CopyBlock(_twin.Pointer, _b.Pointer, PageSize);
        _output = new byte[PageDiff.MaxEncodedLength(PageSize)];
        _diff = new byte[PageDiff.MaxEncodedLength(PageSize)];
        using (var scratchTwin = NativeBlock.AllocateZeroed(PageSize))
        {
            Unsafe.CopyBlock(scratchTwin.Pointer, _b.Pointer, PageSize);
            _diff = _diff.AsSpan(0, PageDiff.Encode(_a.Pointer, scratchTwin.Pointer, PageSize, _diff)).ToArray();
        }

        // The runs the diff covers, for the raw-copy baseline of apply.
        var runs = new List<(int, int)>();
        for (var i = 0; i < PageSize;)
        {
            if (_a.Pointer[i] == _b.Pointer[i])
            {
                i++;
                continue;
            }

            var start = i;
            while (i < PageSize && _a.Pointer[i] != _b.Pointer[i])
            {
                i++;
            }

            runs.Add((start, i - start));
        }

        _runs = [.. runs];
        Unsafe.CopyBlock(_target.Pointer, _b.Pointer, PageSize);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _a.Dispose();
        _b.Dispose();
        _twin.Dispose();
        _target.Dispose();
    }

    [BenchmarkCategory("Make"), Benchmark(Baseline = true, OperationsPerInvoke = 2)]
    public void Make_CopyPage()
    {
        Unsafe.CopyBlock(_twin.Pointer, _a.Pointer, PageSize);
        Unsafe.CopyBlock(_twin.Pointer, _b.Pointer, PageSize);
    }

    [BenchmarkCategory("Make"), Benchmark(OperationsPerInvoke = 2)]
    public bool Make_ComparePage() =>
        new ReadOnlySpan<byte>(_a.Pointer, PageSize).SequenceEqual(new ReadOnlySpan<byte>(_twin.Pointer, PageSize))
        | new ReadOnlySpan<byte>(_b.Pointer, PageSize).SequenceEqual(new ReadOnlySpan<byte>(_twin.Pointer, PageSize));

    [BenchmarkCategory("Make"), Benchmark(OperationsPerInvoke = 2)]
    public int Make_Diff() =>
        PageDiff.Encode(_a.Pointer, _twin.Pointer, PageSize, _output)
        + PageDiff.Encode(_b.Pointer, _twin.Pointer, PageSize, _output);

    [BenchmarkCategory("Make"), Benchmark(OperationsPerInvoke = 2)]
    public int Make_DiffScalar() =>
        PageDiff.EncodeScalar(_a.Pointer, _twin.Pointer, PageSize, _output)
        + PageDiff.EncodeScalar(_b.Pointer, _twin.Pointer, PageSize, _output);

    [BenchmarkCategory("Apply"), Benchmark(Baseline = true)]
    public void Apply_CopyChangedRuns()
    {
        var source = _a.Pointer;
        var target = _target.Pointer;
        foreach (var (offset, length) in _runs)
        {
            Unsafe.CopyBlockUnaligned(target + offset, source + offset, (uint)length);
        }
    }

    [BenchmarkCategory("Apply"), Benchmark]
    public void Apply_Diff() => PageDiff.Apply(_diff, _target.Pointer, PageSize);

    [BenchmarkCategory("Apply"), Benchmark]
    public void Apply_ValidatedDiff() => PageDiff.ApplyValidated(_diff, _target.Pointer);

    [BenchmarkCategory("Apply"), Benchmark]
    public void Apply_ValidateOnly() => PageDiff.Validate(_diff, PageSize);
}
