using FsCheck;
using FsCheck.Fluent;

namespace HiveMind.Testing;

/// <summary>Runs an FsCheck property and throws (with the counterexample) when it fails. Linked into the test projects that use FsCheck.</summary>
internal static class PropertyCheck
{
    public static void Holds<T>(Gen<T> generator, Action<T> property, int maxTest = 200) =>
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(maxTest).WithQuietOnSuccess(true),
            Prop.ForAll(generator.ToArbitrary(), (T value) =>
            {
                property(value);
                return true;
            }));
}
