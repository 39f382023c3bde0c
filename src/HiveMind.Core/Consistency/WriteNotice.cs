namespace HiveMind.Consistency;

/// <summary>"Page <see cref="Page"/> was modified by drone <see cref="Drone"/> in interval <see cref="Interval"/>." Carries no data.</summary>
internal readonly record struct WriteNotice(int Page, int Drone, int Interval)
{
    public override string ToString() => $"page {Page} by drone {Drone} in interval {Interval}";
}
