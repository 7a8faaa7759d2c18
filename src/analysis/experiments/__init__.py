"""A/B experiment statistics on sufficient statistics, and the experiment study.

Start with :func:`analyse_experiment` (a community experiment) or :func:`analyse_unit_table`
(a per-unit table an analyst brings); the individual tests are below it.
"""

from analysis.experiments.bayes import bayes_binomial, bayes_means
from analysis.experiments.bayes_multi import bayes_multi_arm
from analysis.experiments.bayes_results import BayesResult, MultiArmBayesResult
from analysis.experiments.bootstrap import bootstrap_difference
from analysis.experiments.clusters import cluster_robust_difference, cluster_robust_ols
from analysis.experiments.corrections import (
    MetricFamily,
    adjust_pvalues,
    decide,
    non_inferiority_from_comparison,
    non_inferiority_test,
)
from analysis.experiments.cuped import RatioCupedStats, cuped_ratio_test, cuped_test
from analysis.experiments.effects import Comparison
from analysis.experiments.interference import spillover_check
from analysis.experiments.means import welch_test
from analysis.experiments.outcomes import (
    BINARY_METRICS,
    binary_outcome_counts,
)
from analysis.experiments.power import (
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
    time_to_run,
)
from analysis.experiments.proportions import (
    DIFF_CI_METHOD,
    RATE_CI_METHOD,
    RELATIVE_CI_METHOD,
    ProportionComparison,
    ProportionsChi2Test,
    proportions_chi2_test,
    two_proportion_test,
)
from analysis.experiments.rank import mann_whitney
from analysis.experiments.ratio import ratio_test
from analysis.experiments.sequential import (
    sequential_from_comparison,
    sequential_proportions,
    sequential_welch,
)
from analysis.experiments.srm import sample_ratio_mismatch
from analysis.experiments.study import analyse_experiment, analyse_unit_table
from analysis.experiments.study_result import ExperimentAnalysis
from analysis.experiments.sufficient import SufficientStats, sufficient_stats_expr
from analysis.experiments.unit_metrics import COMMUNITY_METRICS
from analysis.experiments.unit_table import UnitTable, UnitTableError, read_unit_table

__all__ = [
    "BINARY_METRICS",
    "COMMUNITY_METRICS",
    "DIFF_CI_METHOD",
    "RATE_CI_METHOD",
    "RELATIVE_CI_METHOD",
    "BayesResult",
    "Comparison",
    "ExperimentAnalysis",
    "MetricFamily",
    "MultiArmBayesResult",
    "ProportionComparison",
    "ProportionsChi2Test",
    "RatioCupedStats",
    "SufficientStats",
    "UnitTable",
    "UnitTableError",
    "adjust_pvalues",
    "analyse_experiment",
    "analyse_unit_table",
    "bayes_binomial",
    "bayes_means",
    "bayes_multi_arm",
    "binary_outcome_counts",
    "bootstrap_difference",
    "cluster_robust_difference",
    "cluster_robust_ols",
    "cuped_ratio_test",
    "cuped_test",
    "decide",
    "mann_whitney",
    "mde_means",
    "mde_proportions",
    "non_inferiority_from_comparison",
    "non_inferiority_test",
    "power_means",
    "power_proportions",
    "proportions_chi2_test",
    "ratio_test",
    "read_unit_table",
    "sample_ratio_mismatch",
    "sample_size_means",
    "sample_size_proportions",
    "sequential_from_comparison",
    "sequential_proportions",
    "sequential_welch",
    "spillover_check",
    "sufficient_stats_expr",
    "time_to_run",
    "two_proportion_test",
    "welch_test",
]
