using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;

namespace HiveMind.Benchmarks;

/// <summary>
/// One job for every micro-benchmark: enough iterations for a stable median on a noisy 2-core machine,
/// medians and ratios in the table, grouped by category so that each category has its own baseline.
/// </summary>
public sealed class BenchConfig : ManualConfig
{
    public BenchConfig()
    {
        AddJob(Job.Default.WithWarmupCount(4).WithIterationCount(15).WithLaunchCount(1));
        AddColumn(StatisticColumn.Median, StatisticColumn.P95);
        AddLogicalGroupRules(BenchmarkLogicalGroupRule.ByCategory);
        SummaryStyle = SummaryStyle.Default.WithRatioStyle(RatioStyle.Value);
        WithOptions(ConfigOptions.JoinSummary);
    }
}
