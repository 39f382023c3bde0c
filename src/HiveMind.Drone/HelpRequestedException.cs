namespace HiveMind;

/// <summary>
/// The command line asked for help (<c>--help</c>) or the version: not an error, and no reason for a library to end its
/// host. <see cref="Tmk.Run{TOptions}"/> prints <see cref="HelpText"/> and returns exit code 0.
/// </summary>
public sealed class HelpRequestedException : Exception
{
    public HelpRequestedException()
        : this(string.Empty)
    {
    }

    public HelpRequestedException(string helpText)
        : base("help requested")
    {
        HelpText = helpText;
    }

    public HelpRequestedException(string message, Exception innerException)
        : base(message, innerException)
    {
        HelpText = string.Empty;
    }

    /// <summary>The options and their descriptions, as the program should print them.</summary>
    public string HelpText { get; }
}
