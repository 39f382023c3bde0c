using System.Globalization;
using CommandLine;
using HiveMind.Consistency;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace HiveMind;

/// <summary>
/// The TreadMarks-style API of a drone program: a thin static façade over the one <see cref="Drone"/> of
/// this process. <c>Tmk.Startup(args)</c> first, <c>Tmk.Exit()</c> last.
/// </summary>
public static class Tmk
{
    private static Drone? _drone;
    private static bool _exited;

    /// <summary>The drone of this process; throws if <see cref="Startup(DroneOptions)"/> has not run or <see cref="Exit"/> has.</summary>
    public static Drone Drone => _drone ?? throw new InvalidOperationException(_exited
        ? "Tmk.Exit has ended this process's drone: shared memory, locks and barriers can no longer be used."
        : "Tmk.Startup has not been called in this process.");

    /// <summary>This drone's id (Tmk_proc_id).</summary>
    public static int Id => Drone.Id;

    /// <summary>Number of drones (Tmk_nprocs).</summary>
    public static int Count => Drone.Count;

    /// <summary>The membership view: which drones take part now and which were removed as failed.</summary>
    public static MembershipView View => Drone.View;

    /// <summary>
    /// Runs a drone program: parses <paramref name="args"/> into <typeparamref name="TOptions"/>, lets
    /// <paramref name="configure"/> set what only code sets (<see cref="DroneOptions.RecoversFromFailures"/>), starts the
    /// drone, runs <paramref name="body"/> and, when it returns 0, ends the drone's part with <see cref="Exit"/> (a body that
    /// returns another code leaves at once, unless it called Exit itself). Returns the process exit
    /// code: the body's, or one of <see cref="DroneExitCodes"/> with a message on standard error (never a stack trace for
    /// a failure of the run: bad options, a start that failed, a drone that failed, drone 0 gone).
    /// </summary>
    public static int Run<TOptions>(string[] args, Action<TOptions>? configure, Func<TOptions, Drone, int> body)
        where TOptions : DroneOptions, new()
    {
        ArgumentNullException.ThrowIfNull(body);
        var name = System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name?.ToLowerInvariant() ?? "drone";
        Drone? drone = null;
        try
        {
            var options = ParseOptions<TOptions>(args);
            configure?.Invoke(options);
            drone = Startup(options);
            var code = body(options, drone);
            if (_drone is not null && code == DroneExitCodes.Success)
            {
                // Unless the body did. A body that failed leaves without the exit barriers (the others would wait at
                // theirs for it): its drone is taken for failed, and the run stops, or recovers, as the program says.
                Exit();
            }

            if (code == DroneExitCodes.Success && !options.Quiet && drone.Id == 0)
            {
                WriteRunStatistics(drone);
            }

            return code;
        }
        catch (HelpRequestedException help)
        {
            Console.WriteLine(help.HelpText);
            return DroneExitCodes.Success;
        }
        catch (InjectedExitException injected)
        {
            return injected.ExitCode;
        }
        catch (OptionsException error)
        {
            Console.Error.WriteLine($"{name}: {error.Message}");
            Console.Error.WriteLine($"{name}: run with --help for the options.");
            return DroneExitCodes.BadOptions;
        }
        catch (Launch.LaunchException error)
        {
            Console.Error.WriteLine($"{name}: cannot start the run: {error.Message}");
            return DroneExitCodes.CannotStart;
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // Waited for here, not in a filter: a filter runs before the frames that threw let go of their locks.
            if (drone?.AwaitFailure(error) is { } reason)
            {
                // The run stopped under the program (what it threw is a consequence): say why, with the code that says it.
                Console.Error.WriteLine($"{name}: drone {drone.Id}: the run stopped: {drone.FailureReport() ?? reason}");
                if (error is not RunAbortedException)
                {
                    Console.Error.WriteLine($"{name}: drone {drone.Id}: (the program then failed with {error.GetType().Name}: {error.Message})");
                }

                return drone.FailureExitCode;
            }

            Console.Error.WriteLine($"{name}: drone {drone?.Id.ToString(CultureInfo.InvariantCulture) ?? "?"}: the program failed: {error}");
            return DroneExitCodes.ProgramFailed;
        }
        finally
        {
            if (_drone is { } left)
            {
                // The body threw or the run stopped: end the drone without the exit barriers (on drone 0 this stops the
                // drones it started, once they had a moment to end by themselves).
                left.Dispose();
                _drone = null;
                _exited = true;
            }
        }
    }

    /// <summary>
    /// Runs a drone program with the drone options alone (see <see cref="Run{TOptions}"/>); <paramref name="configure"/>
    /// sets what only code sets (<see cref="DroneOptions.RecoversFromFailures"/>, <see cref="DroneOptions.EndProcess"/>).
    /// </summary>
    public static int Run(string[] args, Action<Drone> body, Action<DroneOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        return Run<DroneOptions>(args, configure, (_, drone) =>
        {
            body(drone);
            return DroneExitCodes.Success;
        });
    }

    /// <summary>Parses the drone options from <paramref name="args"/> and starts this process's drone.</summary>
    /// <exception cref="OptionsException">The command line is unusable; the message says why.</exception>
    /// <exception cref="HelpRequestedException">The command line asks for help: print <see cref="HelpRequestedException.HelpText"/> (<see cref="Run(string[], Action{Drone}, Action{DroneOptions}?)"/> does).</exception>
    public static Drone Startup(string[] args) => Startup(ParseOptions<DroneOptions>(args));

    /// <summary>Starts this process's drone with <paramref name="options"/>.</summary>
    public static Drone Startup(DroneOptions options)
    {
        if (_drone is not null)
        {
            throw new InvalidOperationException("Tmk.Startup was already called in this process.");
        }

        _drone = Drone.Start(options, options.Loggers ?? CreateLoggerFactory(options.LogLevel));
        return _drone;
    }

    /// <summary>
    /// Parses <paramref name="args"/> into <typeparamref name="TOptions"/> (an app's options class that derives
    /// from <see cref="DroneOptions"/>) and validates them.
    /// </summary>
    /// <exception cref="OptionsException">An option is unknown, missing or has a bad value.</exception>
    /// <exception cref="HelpRequestedException">The command line asks for help or the version: the text to print (<see cref="Run{TOptions}"/> prints it and returns 0).</exception>
    public static TOptions ParseOptions<TOptions>(string[] args)
        where TOptions : DroneOptions, new()
    {
        CheckOptionNames(typeof(TOptions));
        using var parser = new Parser(settings =>
        {
            settings.HelpWriter = null;
            settings.CaseInsensitiveEnumValues = true;
        });
        var result = parser.ParseArguments<TOptions>(args);
        if (result is Parsed<TOptions> parsed)
        {
            parsed.Value.ApplyConfig(DroneOptions.GivenOptions(typeof(TOptions), args));
            parsed.Value.Validate();
            return parsed.Value;
        }

        var errors = ((NotParsed<TOptions>)result).Errors.ToList();
        if (errors.Any(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.VersionRequestedError))
        {
            throw new HelpRequestedException(CommandLine.Text.HelpText.AutoBuild(result, h => h, e => e));
        }

        throw new OptionsException(string.Join(Environment.NewLine, errors.Select(Describe)));
    }

    /// <summary>
    /// Checks a program's options class before the parser sees it: a long name of one letter (<c>[Option("n")]</c>) would
    /// make the parser throw from inside; say which property has it and how to write it instead.
    /// </summary>
    private static void CheckOptionNames(Type options)
    {
        foreach (var property in options.GetProperties())
        {
            if (property.GetCustomAttributes(typeof(OptionAttribute), inherit: true).OfType<OptionAttribute>().FirstOrDefault() is { LongName.Length: 1 } option)
            {
                throw new OptionsException(
                    $"{options.Name}.{property.Name}: [Option(\"{option.LongName}\")] gives a long name of one letter, which the parser refuses; give a longer one, or a short one as [Option('{option.LongName}', \"name\")] for -{option.LongName}.");
            }
        }
    }

    /// <summary>Bytes of a page of the shared heap (<c>--page-size</c>).</summary>
    public static int PageSize => Drone.PageSize;

    /// <summary>Pages of the shared heap.</summary>
    public static int PageCount => Drone.PageCount;

    /// <summary>Allocates shared memory (Tmk_malloc) from any drone; returns its global address (see <see cref="Drone.Malloc"/>).</summary>
    public static long Malloc(long bytes) => Drone.Malloc(bytes);

    /// <summary>Allocates shared memory from any drone at a multiple of <paramref name="alignment"/> (a power of two; <see cref="PageSize"/> for data on pages of its own).</summary>
    public static long Malloc(long bytes, int alignment) => Drone.Malloc(bytes, alignment);

    /// <summary>Frees shared memory (Tmk_free) that any drone allocated, from any drone (see <see cref="Drone.Free"/>).</summary>
    public static void Free(long address) => Drone.Free(address);

    /// <summary>
    /// Every drone calls it with the same size and gets the address of one block drone 0 allocated (ArgoDSM's
    /// <c>conew_array</c>); a barrier for all drones (see <see cref="Drone.MallocCollective"/>).
    /// </summary>
    public static long MallocCollective(long bytes) => Drone.MallocCollective(bytes);

    /// <summary>As <see cref="MallocCollective(long)"/>, at a multiple of <paramref name="alignment"/> (a power of two; <see cref="PageSize"/> for data on pages of its own).</summary>
    public static long MallocCollective(long bytes, int alignment) => Drone.MallocCollective(bytes, alignment);

    /// <summary>Every drone calls it with the same count and gets a view of one shared array (see <see cref="Drone.ArrayCollective{T}"/>).</summary>
    public static SharedArray<T> ArrayCollective<T>(int count)
        where T : unmanaged => Drone.ArrayCollective<T>(count);

    /// <summary>Every drone gets drone 0's value (Tmk_distribute).</summary>
    public static long Distribute(long value) => Drone.Distribute(value);

    /// <summary>Every drone gets drone 0's value of any unmanaged type (Tmk_distribute).</summary>
    public static T Distribute<T>(T value)
        where T : unmanaged => Drone.Distribute(value);

    /// <summary>Every drone's buffer gets drone 0's bytes (Tmk_distribute of a private range); every drone passes the same length.</summary>
    public static void Distribute(Span<byte> buffer) => Drone.Distribute(buffer);

    /// <summary>Reads shared memory at a global address.</summary>
    public static T Read<T>(long address)
        where T : unmanaged => Drone.Heap.Read<T>(address);

    /// <summary>Writes shared memory at a global address.</summary>
    public static void Write<T>(long address, T value)
        where T : unmanaged => Drone.Heap.Write(address, value);

    /// <summary>A typed view of shared memory.</summary>
    public static SharedArray<T> Array<T>(long address, int count)
        where T : unmanaged => Drone.Array<T>(address, count);

    /// <summary>A typed view of shared memory whose element count may pass int.MaxValue (indexed with a long).</summary>
    public static SharedLargeArray<T> LargeArray<T>(long address, long count)
        where T : unmanaged => Drone.LargeArray<T>(address, count);

    /// <summary>Acquires a lock (Tmk_lock_acquire).</summary>
    public static void LockAcquire(int lockId) => Drone.LockAcquire(lockId);

    /// <summary>Acquires a lock if no other drone holds it or asks for it, without waiting (Drone.LockTryAcquire).</summary>
    public static bool LockTryAcquire(int lockId) => Drone.LockTryAcquire(lockId);

    /// <summary>Releases a lock (Tmk_lock_release).</summary>
    public static void LockRelease(int lockId) => Drone.LockRelease(lockId);

    /// <summary>
    /// Gives up a lock this drone holds, waits for a signal or broadcast on the condition, and acquires the lock again
    /// (Tmk_lock_cond_wait). A wait may return before its predicate holds: loop on it (see <see cref="Drone.LockCondWait"/>).
    /// </summary>
    public static void LockCondWait(int lockId, int condId) => Drone.LockCondWait(lockId, condId);

    /// <summary>Wakes one thread waiting on the condition, holding its lock (Tmk_lock_cond_signal).</summary>
    public static void LockCondSignal(int lockId, int condId) => Drone.LockCondSignal(lockId, condId);

    /// <summary>Wakes every thread waiting on the condition, holding its lock (Tmk_lock_cond_broadcast).</summary>
    public static void LockCondBroadcast(int lockId, int condId) => Drone.LockCondBroadcast(lockId, condId);

    /// <summary>Waits for every drone at a barrier (Tmk_barrier).</summary>
    public static void Barrier(int barrierId) => Drone.Barrier(barrierId);

    /// <summary>
    /// Ends the run for this drone (Tmk_exit). It prints nothing: <see cref="Run{TOptions}"/> prints the run's statistics
    /// on drone 0 (unless --quiet), and a program that starts and ends its drone by hand may print
    /// <see cref="Drone.RunStatistics"/> itself (<see cref="WriteRunStatistics"/>).
    /// </summary>
    public static void Exit()
    {
        var drone = Drone;
        drone.Exit();
        drone.Dispose();
        _drone = null;
        _exited = true;
    }

    /// <summary>
    /// Prints the statistics of <paramref name="drone"/>'s run after its <see cref="Exit"/>: on drone 0, one table with a
    /// column per drone and the total, and the run's wall time.
    /// </summary>
    public static void WriteRunStatistics(Drone drone)
    {
        ArgumentNullException.ThrowIfNull(drone);

        // Written to a file or a pipe, the table keeps a line per statistic however many drones it has columns for.
        var run = drone.RunStatistics;
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 44 + (20 * (run.Count + 1)));
        }

        AnsiConsole.Write(DroneStatistics.ToTable(run));
        AnsiConsole.WriteLine($"run wall time: {drone.Elapsed.TotalMilliseconds:F1} ms");
    }

    // HiveMind's own log, when the program gives none: one line per message on standard error (standard output is the
    // program's), from the --log-level up.
    private static ILoggerFactory CreateLoggerFactory(LogLevel level) =>
        LoggerFactory.Create(builder => builder
            .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss.fff ";
            })
            .SetMinimumLevel(level));

    private static string Describe(Error error) => error switch
    {
        UnknownOptionError unknown => $"--{unknown.Token}: unknown option (see --help).",
        BadFormatConversionError bad => $"--{bad.NameInfo.LongName}: the value is not valid for this option.",
        MissingValueOptionError missing => $"--{missing.NameInfo.LongName}: needs a value.",
        MissingRequiredOptionError required => $"--{required.NameInfo.LongName}: is required.",
        _ => error.Tag.ToString(),
    };
}
