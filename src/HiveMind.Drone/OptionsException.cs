namespace HiveMind;

/// <summary>A command-line option or config value is unusable; the message names it and says why.</summary>
public sealed class OptionsException : Exception
{
    public OptionsException()
    {
    }

    public OptionsException(string message)
        : base(message)
    {
    }

    public OptionsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
