"""A/B experiment statistics computed from sufficient statistics (counts and sums)."""

from analysis.experiments.outcomes import (
    BINARY_METRICS,
    BinaryMetricResult,
    analyse_binary_metric,
    binary_outcome_counts,
)
from analysis.experiments.tests import (
    DIFF_CI_METHOD,
    RATE_CI_METHOD,
    RELATIVE_CI_METHOD,
    ProportionComparison,
    ProportionsChi2Test,
    proportions_chi2_test,
    two_proportion_test,
)

__all__ = [
    "BINARY_METRICS",
    "BinaryMetricResult",
    "analyse_binary_metric",
    "binary_outcome_counts",
    "DIFF_CI_METHOD",
    "RATE_CI_METHOD",
    "RELATIVE_CI_METHOD",
    "ProportionComparison",
    "ProportionsChi2Test",
    "proportions_chi2_test",
    "two_proportion_test",
]
