using System.Security.Cryptography;

namespace HiveMind.Launch;

/// <summary>
/// The run's cluster key in a file, for drones that join a running run and for drones a cluster launcher starts: drone 0
/// creates it (mode 600) or uses the one there; the others read it. Like ssh with its keys, a key file that others may read is refused.
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

        // Written whole under another name, then linked into place: a drone that waits for the file (a cluster launcher
        // starts every drone at once) never reads half a key, and of two drones 0 that race, the first key wins.
        var key = RandomNumberGenerator.GetBytes(KeyBytes);
        var temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }

            using (var stream = new FileStream(temporary, options))
            using (var writer = new StreamWriter(stream))
            {
                writer.WriteLine(Convert.ToBase64String(key));
            }

            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temporary);
            return Load(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            File.Delete(temporary);
            throw new OptionsException($"--key-file {path}: cannot create it: {error.Message}", error);
        }

        return key;
    }

    /// <summary>
    /// A drone started by a cluster launcher beside drone 0: waits up to <paramref name="wait"/> for the file drone 0
    /// creates (on a file system both see), then reads it.
    /// </summary>
    /// <exception cref="OptionsException">The file did not appear in time, or is unusable.</exception>
    public static byte[] WaitAndLoad(string path, TimeSpan wait)
    {
        ArgumentNullException.ThrowIfNull(path);
        var deadline = DateTime.UtcNow + wait;
        var pause = TimeSpan.FromMilliseconds(20);
        while (!File.Exists(path))
        {
            if (DateTime.UtcNow >= deadline)
            {
                throw new OptionsException(
                    $"--key-file {path}: not there after {wait.TotalSeconds:F0} s; drone 0 creates it, so the path must be on a file system every node sees (or create it beforehand: head -c 32 /dev/urandom | base64 > {path}; chmod 600 {path}).");
            }

            Thread.Sleep(pause); // a shared file system tells no one of a new file: look again
            pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 2, 250));
        }

        return Load(path);
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
