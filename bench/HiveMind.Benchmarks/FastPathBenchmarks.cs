using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using HiveMind.Memory;

namespace HiveMind.Benchmarks;

/// <summary>
/// The access fast path over 64 MiB of valid pages against a raw pointer loop over the same memory.
/// Each category has its own raw baseline, so the Ratio column is the cost of the state check.
/// </summary>
[Config(typeof(BenchConfig))]
public unsafe class FastPathBenchmarks
{
    private const long Bytes = 64L << 20;
    private const int Count = (int)(Bytes / sizeof(int));
    private const int RandomCount = 1 << 20;

    private SharedHeap _heap = null!;
    private SharedArray<int> _array;
    private StateCheckOnly _floor;
    private int* _raw;
    private int[] _randomIndex = null!;

    [GlobalSetup]
    public void Setup()
    {
        _heap = new SharedHeap(new HeapOptions { HeapSize = Bytes });
        _raw = (int*)_heap.BasePointer;
        _array = new SharedArray<int>(_heap, 0, Count);
        _floor = new StateCheckOnly(_heap);
        for (var i = 0; i < Count; i++)
        {
            _raw[i] = i;
        }

        var rng = new Random(42);
        _randomIndex = new int[RandomCount];
        for (var i = 0; i < RandomCount; i++)
        {
            _randomIndex[i] = rng.Next(Count);
        }

        SetAll(PageAccess.ReadWrite); // valid and writable: the fast path never falls to the slow one
    }

    [GlobalCleanup]
    public void Cleanup() => _heap.Dispose();

    [BenchmarkCategory("SequentialRead"), Benchmark(Baseline = true)]
    public long SequentialRead_RawPointer()
    {
        var p = _raw;
        long sum = 0;
        for (var i = 0; i < Count; i++)
        {
            sum += p[i];
        }

        return sum;
    }

    [BenchmarkCategory("SequentialRead"), Benchmark]
    public long SequentialRead_HeapRead()
    {
        var heap = _heap;
        long sum = 0;
        for (long address = 0; address < Bytes; address += sizeof(int))
        {
            sum += heap.Read<int>(address);
        }

        return sum;
    }

    [BenchmarkCategory("SequentialRead"), Benchmark]
    public long SequentialRead_SharedArray()
    {
        var xs = _array;
        long sum = 0;
        for (var i = 0; i < xs.Count; i++)
        {
            sum += xs[i];
        }

        return sum;
    }

    [BenchmarkCategory("SequentialRead"), Benchmark]
    public long SequentialRead_StateCheckOnly()
    {
        var xs = _floor;
        long sum = 0;
        for (var i = 0; i < Count; i++)
        {
            sum += xs.Read(i);
        }

        return sum;
    }

    [BenchmarkCategory("SequentialRead"), Benchmark]
    public long SequentialRead_Span()
    {
        var span = _array.AsReadOnlySpan();
        long sum = 0;
        for (var i = 0; i < span.Length; i++)
        {
            sum += span[i];
        }

        return sum;
    }

    [BenchmarkCategory("RandomRead"), Benchmark(Baseline = true)]
    public long RandomRead_RawPointer()
    {
        var p = _raw;
        var index = _randomIndex;
        long sum = 0;
        for (var i = 0; i < index.Length; i++)
        {
            sum += p[index[i]];
        }

        return sum;
    }

    [BenchmarkCategory("RandomRead"), Benchmark]
    public long RandomRead_HeapRead()
    {
        var heap = _heap;
        var index = _randomIndex;
        long sum = 0;
        for (var i = 0; i < index.Length; i++)
        {
            sum += heap.Read<int>((long)index[i] * sizeof(int));
        }

        return sum;
    }

    [BenchmarkCategory("RandomRead"), Benchmark]
    public long RandomRead_SharedArray()
    {
        var xs = _array;
        var index = _randomIndex;
        long sum = 0;
        for (var i = 0; i < index.Length; i++)
        {
            sum += xs[index[i]];
        }

        return sum;
    }

    [BenchmarkCategory("SequentialWrite"), Benchmark(Baseline = true)]
    public void SequentialWrite_RawPointer()
    {
        var p = _raw;
        for (var i = 0; i < Count; i++)
        {
            p[i] = i;
        }
    }

    [BenchmarkCategory("SequentialWrite"), Benchmark]
    public void SequentialWrite_HeapWrite()
    {
        var heap = _heap;
        var value = 0;
        for (long address = 0; address < Bytes; address += sizeof(int))
        {
            heap.Write(address, value++);
        }
    }

    [BenchmarkCategory("SequentialWrite"), Benchmark]
    public void SequentialWrite_SharedArray()
    {
        var xs = _array;
        for (var i = 0; i < xs.Count; i++)
        {
            xs[i] = i;
        }
    }

    [BenchmarkCategory("SequentialWrite"), Benchmark]
    public void SequentialWrite_StateCheckOnly()
    {
        var xs = _floor;
        for (var i = 0; i < Count; i++)
        {
            xs.Write(i, i);
        }
    }

    [BenchmarkCategory("SequentialWrite"), Benchmark]
    public void SequentialWrite_Span()
    {
        var span = _array.AsSpan();
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = i;
        }
    }

    private void SetAll(PageAccess access)
    {
        for (var page = 0; page < _heap.PageCount; page++)
        {
            _heap.SetAccess(page, access);
        }
    }

    /// <summary>
    /// The floor of any per-element check: <see cref="SharedArray{T}"/>'s state check alone, with no index check and
    /// nothing else (not safe to use: an index outside the heap reads outside the state table). It shows what the
    /// state lookup costs by itself against the raw loop of the same run.
    /// </summary>
    private readonly struct StateCheckOnly(SharedHeap heap)
    {
        private readonly byte* _elements = heap.BasePointer;
        private readonly byte* _biasedStates = heap.StatePointer - ((nuint)heap.BasePointer >> SharedHeap.StateGranuleShift);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Read(int index)
        {
            var element = _elements + ((nint)index * sizeof(int));
            return _biasedStates[(nuint)element >> SharedHeap.StateGranuleShift] == (byte)PageAccess.NoAccess
                ? Fail()
                : Unsafe.ReadUnaligned<int>(element);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Write(int index, int value)
        {
            var element = _elements + ((nint)index * sizeof(int));
            if (_biasedStates[(nuint)element >> SharedHeap.StateGranuleShift] != (byte)PageAccess.ReadWrite)
            {
                Fail();
            }

            Unsafe.WriteUnaligned(element, value);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static int Fail() => throw new InvalidOperationException("the floor benchmark's pages must all be valid and writable");
    }
}
