using HiveMind.Native;

namespace HiveMind.Memory;

/// <summary>
/// Page-sized native slots for twins, carved from slabs of <see cref="SlabPages"/> pages so that a twin
/// costs no allocation once the pool is warm. Thread-safe: mesh threads make diffs against twins.
/// </summary>
/// <remarks>SAFETY: a slot is valid from <see cref="Rent"/> until it is given back or the pool is disposed.</remarks>
internal sealed unsafe class TwinPool : IDisposable
{
    /// <summary>Pages per slab.</summary>
    public const int SlabPages = 64;

    private readonly int _pageSize;
    private readonly List<NativeBlock> _slabs = [];
    private readonly Stack<nint> _free = new();
    private readonly Lock _gate = new();
    private int _rented;
    private bool _disposed;

    public TwinPool(int pageSize) => _pageSize = pageSize;

    /// <summary>Twins handed out and not yet returned.</summary>
    public int Rented
    {
        get
        {
            lock (_gate)
            {
                return _rented;
            }
        }
    }

    /// <summary>Native bytes the pool holds (slabs, rented or free).</summary>
    public long ReservedBytes
    {
        get
        {
            lock (_gate)
            {
                return (long)_slabs.Count * SlabPages * _pageSize;
            }
        }
    }

    /// <summary>A page-sized slot aligned to 64 bytes; its contents are undefined.</summary>
    public byte* Rent()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_free.Count == 0)
            {
                var slab = NativeBlock.AllocateZeroed((nuint)SlabPages * (nuint)_pageSize, 64);
                _slabs.Add(slab);
                for (var i = SlabPages - 1; i >= 0; i--)
                {
                    _free.Push((nint)(slab.Pointer + ((nint)i * _pageSize)));
                }
            }

            _rented++;
            return (byte*)_free.Pop();
        }
    }

    /// <summary>Gives a slot back.</summary>
    public void Return(byte* twin)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _rented--;
            _free.Push((nint)twin);
        }
    }

    /// <summary>
    /// Frees the slabs beyond what the rented twins need, keeping <paramref name="keepFreeSlots"/> free slots
    /// warm. Only whole slabs with no rented slot can go, so this is exact only when nothing is rented.
    /// </summary>
    public void TrimIfIdle(int keepFreeSlots = SlabPages)
    {
        lock (_gate)
        {
            if (_rented != 0)
            {
                return;
            }

            var keepSlabs = (keepFreeSlots + SlabPages - 1) / SlabPages;
            if (_slabs.Count <= keepSlabs)
            {
                return;
            }

            for (var i = keepSlabs; i < _slabs.Count; i++)
            {
                _slabs[i].Dispose();
            }

            _slabs.RemoveRange(keepSlabs, _slabs.Count - keepSlabs);
            _free.Clear();
            foreach (var slab in _slabs)
            {
                for (var i = SlabPages - 1; i >= 0; i--)
                {
                    _free.Push((nint)(slab.Pointer + ((nint)i * _pageSize)));
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var slab in _slabs)
            {
                slab.Dispose();
            }

            _slabs.Clear();
            _free.Clear();
        }
    }
}
