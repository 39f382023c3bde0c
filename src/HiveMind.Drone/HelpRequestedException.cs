namespace HiveMind;

/// <summary>
/// The command line asked for help (<c>--help</c>) or the version: not an error, and no reason for a library to end its
/// host. <see cref="Tmk.Run{TOptions}"/> prints <see cref="HelpText"/> and returns exit code 0.
/// </summary>
public sealed class HelpRequestedException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public HelpRequestedException()
        : this(string.Empty)
    {
    }

    /// <summary>Creates the exception carrying the <paramref name="helpText"/> to print.</summary>
    public HelpRequestedException(string helpText)
        : base("help requested")
    {
        HelpText = helpText;
    }

    /// <summary>Creates the exception with <paramref name="message"/> and the exception that caused it.</summary>
    public HelpRequestedException(string message, Exception innerException)
        : base(message, innerException)
    {
        HelpText = string.Empty;
    }

    /// <summary>The options and their descriptions, as the program should print them.</summary>
    public string HelpText { get; }
}
