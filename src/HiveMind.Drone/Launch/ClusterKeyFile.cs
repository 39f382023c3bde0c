using System.Security.Cryptography;
using System.Text;

namespace HiveMind.Launch;

/// <summary>
/// The run's cluster key in a file, for drones that join a running run and for drones a cluster launcher starts: drone 0
/// creates it (mode 600) or uses the one there; the others read it. Like ssh with its keys, a key file that others may
/// read, or a link to one, is refused.
/// </summary>
internal static class ClusterKeyFile
{
    private const int KeyBytes = 32;
    private const int MaxFileBytes = 4096;
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    // How long a drone 0 that lost the race to create the file waits for the winner to finish writing it.
    private static readonly TimeSpan RaceWait = TimeSpan.FromSeconds(5);

    /// <summary>Drone 0: the key in <paramref name="path"/>, or a new random key written there with mode 600.</summary>
    /// <exception cref="OptionsException">The file is unusable; the message names it and says why.</exception>
    public static byte[] LoadOrCreate(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (File.Exists(path) || IsLink(path))
        {
            try
            {
                return Load(path, complete: true);
            }
            catch (IncompleteKeyException) when (DateTime.UtcNow - File.GetLastWriteTimeUtc(path) < RaceWait)
            {
                // Just created, and empty or without its line's end: another drone 0 that won the race to create it is
                // writing it this moment (a half-written line would decode to a wrong key).
                return WaitAndLoad(path, RaceWait);
            }
            catch (IncompleteKeyException)
            {
                return Load(path); // a key file made beforehand whose line has no end
            }
        }

        // Created exclusively at its own name: of two drones 0 that race (two job steps sharing a key file), one creates
        // it and the other reads the key it wrote, waiting for the whole line if it comes in the middle of the writing.
        var key = RandomNumberGenerator.GetBytes(KeyBytes);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }

            using var stream = new FileStream(path, options);
            stream.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(key) + "\n"));
        }
        catch (IOException) when (File.Exists(path))
        {
            return WaitAndLoad(path, RaceWait);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new OptionsException($"--key-file {path}: cannot create it: {error.Message}", error);
        }

        return key;
    }

    /// <summary>
    /// A drone started by a cluster launcher beside drone 0: waits up to <paramref name="wait"/> for the file drone 0
    /// creates (on a file system both see) to hold a whole key, then reads it.
    /// </summary>
    /// <exception cref="OptionsException">The file did not appear (or stayed incomplete) in time, or is unusable.</exception>
    public static byte[] WaitAndLoad(string path, TimeSpan wait)
    {
        ArgumentNullException.ThrowIfNull(path);
        var deadline = DateTime.UtcNow + wait;
        var pause = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            if (File.Exists(path) || IsLink(path))
            {
                try
                {
                    return Load(path, complete: true);
                }
                catch (IncompleteKeyException) when (DateTime.UtcNow < deadline)
                {
                    // Drone 0 is writing it: look again.
                }
                catch (IncompleteKeyException error)
                {
                    throw new OptionsException($"--key-file {path}: holds no whole key line after {wait.TotalSeconds:F0} s.", error);
                }
            }
            else if (DateTime.UtcNow >= deadline)
            {
                throw new OptionsException(
                    $"--key-file {path}: not there after {wait.TotalSeconds:F0} s; drone 0 creates it, so the path must be on a file system every node sees (or create it beforehand: umask 077; head -c 32 /dev/urandom | base64 > {path}).");
            }

            Thread.Sleep(pause); // a shared file system tells no one of a new file: look again
            pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 2, 250));
        }
    }

    /// <summary>The key in <paramref name="path"/>.</summary>
    /// <exception cref="OptionsException">The file is missing, a link, readable by others, or holds no key.</exception>
    public static byte[] Load(string path) => Load(path, complete: false);

    private static byte[] Load(string path, bool complete)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            if (IsLink(path))
            {
                throw new OptionsException($"--key-file {path}: is a symbolic link; give the key file itself.");
            }

            // The mode is checked on the file that is read (the handle), not on whatever the name points to a moment later.
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(handle) & ~(OwnerOnly | UnixFileMode.UserExecute)) != 0)
            {
                throw new OptionsException(
                    $"--key-file {path}: others may read it (mode {Convert.ToString((int)File.GetUnixFileMode(handle), 8)}); make it the owner's alone (chmod 600).");
            }

            var buffer = new byte[MaxFileBytes];
            var length = RandomAccess.Read(handle, buffer, 0);
            text = Encoding.ASCII.GetString(buffer, 0, length);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new OptionsException($"--key-file {path}: cannot read it: {error.Message}", error);
        }

        if (complete && !text.Contains('\n', StringComparison.Ordinal))
        {
            throw new IncompleteKeyException();
        }

        byte[] key;
        try
        {
            key = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException error)
        {
            throw new OptionsException($"--key-file {path}: does not hold a base64 key.", error);
        }

        return key.Length >= 16 ? key : throw new OptionsException($"--key-file {path}: the key has {key.Length} bytes; at least 16 are needed.");
    }

    private static bool IsLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private sealed class IncompleteKeyException : Exception;
}
