using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace HiveMind.DroneTests;

/// <summary>A program with logging of its own hands HiveMind its ILoggerFactory through Tmk; HiveMind's messages go there.</summary>
public sealed class LoggingTests
{
    [Fact]
    public void TheProgramsLoggerFactory_GetsHiveMindsMessages_ByCategory()
    {
        var provider = new CollectingProvider();
        using var loggers = LoggerFactory.Create(builder => builder.AddProvider(provider).SetMinimumLevel(LogLevel.Information));
        var code = Tmk.Run(["--quiet"], drone => Assert.Equal(0, drone.Id), options => options.Loggers = loggers);

        Assert.Equal(0, code);
        var messages = provider.Messages.ToList();
        Assert.Contains(messages, m => m.Category == "HiveMind.Drone" && m.Level == LogLevel.Information && m.Text.StartsWith("drone 0: started, 1 drone(s)", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Category == "HiveMind.Drone" && m.Text.StartsWith("drone 0: exited after", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("information", LogLevel.Information)]
    [InlineData("None", LogLevel.None)]
    [InlineData("debug", LogLevel.Debug)]
    public void LogLevel_IsAnOption(string given, LogLevel level) =>
        Assert.Equal(level, Tmk.ParseOptions<DroneOptions>(["--log-level", given]).LogLevel);

    [Fact]
    public void LogLevel_Unknown_IsRefusedNamingTheOption()
    {
        var error = Assert.Throws<OptionsException>(() => Tmk.ParseOptions<DroneOptions>(["--log-level", "loud"]));
        Assert.Contains("--log-level: the value is not valid for this option.", error.Message, StringComparison.Ordinal);
    }

    private sealed class CollectingProvider : ILoggerProvider
    {
        public ConcurrentQueue<(string Category, LogLevel Level, string Text)> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Collecting(categoryName, Messages);

        public void Dispose()
        {
        }

        private sealed class Collecting(string category, ConcurrentQueue<(string, LogLevel, string)> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                messages.Enqueue((category, logLevel, formatter(state, exception)));
        }
    }
}
