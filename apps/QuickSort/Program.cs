using HiveMind;
using HiveMind.Apps.QuickSort;

try
{
    return QuickSortApp.Run(Tmk.ParseOptions<QuickSortOptions>(args));
}
catch (OptionsException error)
{
    Console.Error.WriteLine($"quicksort: {error.Message}");
    Console.Error.WriteLine("quicksort: run with --help for the options.");
    return 2;
}
catch (HiveMind.Launch.LaunchException error)
{
    Console.Error.WriteLine($"quicksort: cannot start the run: {error.Message}");
    return 5;
}
