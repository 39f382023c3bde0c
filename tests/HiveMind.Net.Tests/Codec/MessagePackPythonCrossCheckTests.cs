using System.Buffers.Binary;
using System.Diagnostics;
using FsCheck.Fluent;
using HiveMind.Net.Codec;
using MessagePack;

namespace HiveMind.Net.Tests.Codec;

/// <summary>
/// Checks the codec against an independent implementation, Debian's python3-msgpack: python decodes what HiveMind
/// writes, HiveMind decodes what python writes, and both pick the same smallest encodings byte for byte.
/// </summary>
public sealed class MessagePackPythonCrossCheckTests
{
    // Debian's interpreter: the python3 first on PATH may be another build without the msgpack module.
    private const string Python = "/usr/bin/python3";
    private const string InstallHint = "install it as root with `apt-get update && apt-get install -y python3-msgpack`";
    private const int MissingModuleExitCode = 3;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    // Frames are a 4-byte big-endian length and one MessagePack value; descriptions use MsgValue.Describe's lines,
    // each value after a "frame:N" line. unpackb rejects trailing bytes, so each frame must hold exactly one value.
    private const string Script = """
        import struct, sys
        try:
            import msgpack
        except ImportError:
            sys.stderr.write("the msgpack module is missing from " + sys.executable + "\n")
            sys.exit(3)

        def describe(value, out):
            if value is None:
                out.append("nil")
            elif value is True or value is False:
                out.append("bool:" + ("true" if value else "false"))
            elif isinstance(value, int):
                out.append("int:%d" % value)
            elif isinstance(value, float):
                out.append("float:" + struct.pack(">d", value).hex())
            elif isinstance(value, str):
                out.append("str:" + value.encode("utf-8").hex())
            elif isinstance(value, bytes):
                out.append("bin:" + value.hex())
            elif isinstance(value, list):
                out.append("array:%d" % len(value))
                for item in value:
                    describe(item, out)
            elif isinstance(value, dict):
                out.append("map:%d" % len(value))
                for key, item in value.items():
                    describe(key, out)
                    describe(item, out)
            else:
                raise TypeError("unexpected python type %r" % type(value))

        def build(lines, pos):
            kind, _, arg = lines[pos].partition(":")
            pos += 1
            if kind == "nil":
                return None, pos
            if kind == "bool":
                return arg == "true", pos
            if kind == "int":
                return int(arg), pos
            if kind == "float":
                return struct.unpack(">d", bytes.fromhex(arg))[0], pos
            if kind == "str":
                return bytes.fromhex(arg).decode("utf-8"), pos
            if kind == "bin":
                return bytes.fromhex(arg), pos
            if kind == "array":
                items = []
                for _ in range(int(arg)):
                    item, pos = build(lines, pos)
                    items.append(item)
                return items, pos
            if kind == "map":
                result = {}
                for _ in range(int(arg)):
                    key, pos = build(lines, pos)
                    result[key], pos = build(lines, pos)
                return result, pos
            raise ValueError("unknown description line %r" % lines[pos - 1][:80])

        def read_frames(path):
            data = open(path, "rb").read()
            frames, pos = [], 0
            while pos < len(data):
                (length,) = struct.unpack_from(">I", data, pos)
                frames.append(data[pos + 4:pos + 4 + length])
                pos += 4 + length
            return frames

        def write_frames(path, frames):
            with open(path, "wb") as f:
                for frame in frames:
                    f.write(struct.pack(">I", len(frame)))
                    f.write(frame)

        mode, source, target = sys.argv[1:4]
        if mode == "decode":
            out = []
            for i, frame in enumerate(read_frames(source)):
                out.append("frame:%d" % i)
                describe(msgpack.unpackb(frame, raw=False, strict_map_key=False), out)
            with open(target, "w") as f:
                f.write("\n".join(out) + "\n")
        elif mode == "repack":
            write_frames(target, [msgpack.packb(msgpack.unpackb(frame, raw=False, strict_map_key=False), use_bin_type=True)
                                  for frame in read_frames(source)])
        elif mode in ("encode", "encode-single-float"):
            lines = open(source).read().splitlines()
            frames, pos = [], 0
            while pos < len(lines):
                if not lines[pos].startswith("frame:"):
                    raise ValueError("expected a frame line, found %r" % lines[pos][:80])
                value, pos = build(lines, pos + 1)
                frames.append(msgpack.packb(value, use_bin_type=True, use_single_float=(mode == "encode-single-float")))
            write_frames(target, frames)
        else:
            raise ValueError("unknown mode " + mode)
        print("msgpack %s %s: %d frame(s)" % (".".join(map(str, msgpack.version)), mode, len(read_frames(target)) if mode != "decode" else len(read_frames(source))))
        """;

    [Fact]
    public void PythonUnpackb_HiveMindEdgeFrames_DecodesExpectedValues()
    {
        var values = CodecEdges.All();
        using var work = new WorkDirectory();
        work.WriteFrames("hivemind.frames", values.Select(v => v.Encode()));
        RunPython(work, "decode", "hivemind.frames", "python-decoded.txt");
        AssertDescriptionsMatch(values, work.ReadDescriptions("python-decoded.txt"), "python's unpackb of HiveMind's frames");
    }

    [Fact]
    public void HiveMindRead_PythonPackbEdgeFrames_DecodesExpectedValues()
    {
        var values = CodecEdges.All();
        using var work = new WorkDirectory();
        work.WriteDescriptions("expected.txt", values);
        RunPython(work, "encode", "expected.txt", "python.frames");
        var frames = work.ReadFrames("python.frames");
        Assert.True(frames.Count == values.Count, $"python packed {frames.Count} frame(s) for {values.Count} value(s).");
        for (var i = 0; i < values.Count; i++)
        {
            var reader = new MessagePackReader(frames[i]);
            var decoded = MsgValue.Read(ref reader);
            Assert.True(reader.End, $"frame {i} ({values[i].Label}): HiveMind stopped at offset {reader.Consumed} of python's {frames[i].Length} byte(s).");
            MsgValue.AssertSame([values[i]], [decoded], $"HiveMind reading python's frame {i}");
        }
    }

    [Fact]
    public void Encode_EdgeValues_BytesIdenticalToPythonBothWays()
    {
        var values = CodecEdges.All();
        var ours = values.Select(v => v.Encode()).ToList();
        using var work = new WorkDirectory();
        work.WriteDescriptions("expected.txt", values);
        work.WriteFrames("hivemind.frames", ours);
        RunPython(work, "encode", "expected.txt", "python.frames");
        RunPython(work, "repack", "hivemind.frames", "repacked.frames");

        // Python packs the values as HiveMind does.
        AssertFramesEqual(values, ours, work.ReadFrames("python.frames"), "python's packb of the values");
        // Python decoding HiveMind's bytes and packing them again gives the same bytes.
        AssertFramesEqual(values, ours, work.ReadFrames("repacked.frames"), "python's packb(unpackb(HiveMind's frame))");
        // HiveMind decoding python's bytes and writing them again gives the same bytes.
        var rewritten = work.ReadFrames("python.frames").Select(frame => MsgValue.ReadAll(frame).Single().Encode()).ToList();
        AssertFramesEqual(values, work.ReadFrames("python.frames"), rewritten, "HiveMind's rewrite of python's frames");
    }

    [Fact]
    public void HiveMindReadDouble_PythonSingleFloats_WidensExactly()
    {
        float[] singles = [0f, -0f, 1.5f, float.MaxValue, float.Epsilon, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 0.1f];
        var values = singles.Select(f => MsgValue.Of((double)f)).ToList();
        using var work = new WorkDirectory();
        work.WriteDescriptions("expected.txt", values);
        RunPython(work, "encode-single-float", "expected.txt", "python.frames");
        var frames = work.ReadFrames("python.frames");
        for (var i = 0; i < singles.Length; i++)
        {
            Assert.True(frames[i].Length == 5 && frames[i][0] == 0xCA, $"python packed float 32 {singles[i]} as {MsgValue.Hex(frames[i])}.");
            var reader = new MessagePackReader(frames[i]);
            var read = reader.ReadDouble();
            Assert.True(
                BitConverter.DoubleToUInt64Bits(read) == BitConverter.DoubleToUInt64Bits(singles[i]),
                $"float 32 {singles[i]} ({MsgValue.Hex(frames[i])}) read as {read}.");
        }
    }

    [Fact]
    public void CrossCheck_RandomValues_AgreeWithPython()
    {
        var generator = Generators.Value(3, pythonSafeMaps: true);
        var values = Gen.Sample(generator, 50, 400).ToList();
        var ours = values.Select(v => v.Encode()).ToList();
        using var work = new WorkDirectory();
        work.WriteFrames("hivemind.frames", ours);
        work.WriteDescriptions("expected.txt", values);
        RunPython(work, "decode", "hivemind.frames", "python-decoded.txt");
        RunPython(work, "encode", "expected.txt", "python.frames");
        AssertDescriptionsMatch(values, work.ReadDescriptions("python-decoded.txt"), "python's unpackb of random HiveMind frames");
        AssertFramesEqual(values, ours, work.ReadFrames("python.frames"), "python's packb of random values");
    }

    private static void RunPython(WorkDirectory work, string mode, string source, string target)
    {
        if (!File.Exists(Python))
        {
            Assert.Fail($"{Python} is missing; the MessagePack cross-check needs Debian's python3 with python3-msgpack: {InstallHint}.");
        }

        var script = work.Path("msgpack_check.py");
        File.WriteAllText(script, Script);
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = work.Root,
        };
        // Isolated mode: no PYTHONPATH or user site-packages from another python can hide or replace Debian's msgpack.
        start.ArgumentList.Add("-I");
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(mode);
        start.ArgumentList.Add(work.Path(source));
        start.ArgumentList.Add(work.Path(target));

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{Python} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"python msgpack '{mode}' of {source} did not exit within {Timeout.TotalSeconds} s; stderr: {stderr.Result}");
        }

        process.WaitForExit();
        var errors = stderr.Result;
        if (process.ExitCode == MissingModuleExitCode)
        {
            Assert.Fail($"{Python} cannot import msgpack ({errors.Trim()}); {InstallHint}.");
        }

        Assert.True(
            process.ExitCode == 0,
            $"python msgpack '{mode}' of {source} exited with code {process.ExitCode}: {errors} {stdout.Result}");
    }

    private static void AssertDescriptionsMatch(List<MsgValue> values, List<List<string>> described, string what)
    {
        Assert.True(described.Count == values.Count, $"{what}: {described.Count} frame(s) described, expected {values.Count}.");
        for (var i = 0; i < values.Count; i++)
        {
            MsgValue.AssertLines(MsgValue.Describe([values[i]]), described[i], $"{what}, frame {i} ({values[i].Label})");
        }
    }

    private static void AssertFramesEqual(List<MsgValue> values, List<byte[]> expected, List<byte[]> actual, string what)
    {
        Assert.True(actual.Count == expected.Count, $"{what}: {actual.Count} frame(s), expected {expected.Count}.");
        for (var i = 0; i < expected.Count; i++)
        {
            var common = expected[i].AsSpan().CommonPrefixLength(actual[i]);
            Assert.True(
                common == expected[i].Length && actual[i].Length == expected[i].Length,
                $"{what}: frame {i} ({values[i].Label}) differs at byte {common}: "
                + $"{MsgValue.Hex(actual[i].AsSpan(common, Math.Min(9, actual[i].Length - common)))} instead of "
                + $"{MsgValue.Hex(expected[i].AsSpan(common, Math.Min(9, expected[i].Length - common)))} "
                + $"({actual[i].Length} vs {expected[i].Length} bytes; both start {MsgValue.Hex(expected[i].AsSpan(0, Math.Min(common, 9)))}).");
        }
    }

    /// <summary>A temporary directory for the files exchanged with python, deleted even when the test fails.</summary>
    private sealed class WorkDirectory : IDisposable
    {
        public WorkDirectory() => Root = Directory.CreateTempSubdirectory("hivemind-msgpack-").FullName;

        public string Root { get; }

        public string Path(string name) => System.IO.Path.Combine(Root, name);

        public void WriteFrames(string name, IEnumerable<byte[]> frames)
        {
            using var file = File.Create(Path(name));
            Span<byte> length = stackalloc byte[4];
            foreach (var frame in frames)
            {
                BinaryPrimitives.WriteInt32BigEndian(length, frame.Length);
                file.Write(length);
                file.Write(frame);
            }
        }

        public List<byte[]> ReadFrames(string name)
        {
            var data = File.ReadAllBytes(Path(name));
            var frames = new List<byte[]>();
            for (var position = 0; position < data.Length;)
            {
                var length = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(position));
                frames.Add(data.AsSpan(position + 4, length).ToArray());
                position += 4 + length;
            }

            return frames;
        }

        public void WriteDescriptions(string name, List<MsgValue> values)
        {
            var lines = new List<string>();
            for (var i = 0; i < values.Count; i++)
            {
                lines.Add($"frame:{i}");
                values[i].Describe(lines);
            }

            File.WriteAllLines(Path(name), lines);
        }

        /// <summary>The description lines of each frame, split at the "frame:N" lines.</summary>
        public List<List<string>> ReadDescriptions(string name)
        {
            var frames = new List<List<string>>();
            foreach (var line in File.ReadLines(Path(name)))
            {
                if (line.StartsWith("frame:", StringComparison.Ordinal))
                {
                    frames.Add([]);
                }
                else if (frames.Count > 0)
                {
                    frames[^1].Add(line);
                }
                else
                {
                    Assert.Fail($"{name} starts with '{line}' before any frame line.");
                }
            }

            return frames;
        }

        public void Dispose() => Directory.Delete(Root, recursive: true);
    }
}
