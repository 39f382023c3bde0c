using System.Security.Cryptography;

namespace HiveMind.Launch;

/// <summary>
/// The run's cluster key in a file, for drones that join a running run: drone 0 creates it (mode 600) or uses the
/// one there; a joiner reads it. Like ssh with its keys, a key file that others may read is refused.
/// </summary>
public static class ClusterKeyFile
{
    private const int KeyBytes = 32;
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Drone 0: the key in <paramref name="path"/>, or a new random key written there with mode 600.</summary>
    /// <exception cref="OptionsException">The file is unusable; the message names it and says why.</exception>
    public static byte[] LoadOrCreate(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (File.Exists(path))
        {
            return Load(path);
        }

        var key = RandomNumberGenerator.GetBytes(KeyBytes);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }

            using var stream = new FileStream(path, options);
            using var writer = new StreamWriter(stream);
            writer.WriteLine(Convert.ToBase64String(key));
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new OptionsException($"--key-file {path}: cannot create it: {error.Message}", error);
        }

        return key;
    }

    /// <summary>The key in <paramref name="path"/>.</summary>
    /// <exception cref="OptionsException">The file is missing, readable by others, or holds no key.</exception>
    public static byte[] Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & ~(OwnerOnly | UnixFileMode.UserExecute)) != 0)
            {
                throw new OptionsException(
                    $"--key-file {path}: others may read it (mode {Convert.ToString((int)File.GetUnixFileMode(path), 8)}); make it the owner's alone (chmod 600).");
            }

            text = File.ReadAllText(path).Trim();
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new OptionsException($"--key-file {path}: cannot read it: {error.Message}", error);
        }

        byte[] key;
        try
        {
            key = Convert.FromBase64String(text);
        }
        catch (FormatException error)
        {
            throw new OptionsException($"--key-file {path}: does not hold a base64 key.", error);
        }

        return key.Length >= 16 ? key : throw new OptionsException($"--key-file {path}: the key has {key.Length} bytes; at least 16 are needed.");
    }
}
