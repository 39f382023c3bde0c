namespace HiveMind;

/// <summary>A command-line option or config value is unusable; the message names it and says why.</summary>
public sealed class OptionsException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public OptionsException()
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public OptionsException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and the exception that caused it.</summary>
    public OptionsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
