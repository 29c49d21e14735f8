"""Design-based estimation of SIPAS satisfaction indices.

A pure library (numpy, pandas, scipy): it never imports Flask, SQLAlchemy or ``app``, never
prints or logs, and takes randomness only from a passed ``numpy.random.Generator``. Numbers equal
R ``survey`` 4.1's for the same design (statistics.md); ``tests/analysis/r`` holds the R script,
its data and its outputs.

Public API
----------
Designs and weighting
    :class:`SurveyDesign` (per-respondent), :class:`Totals`, :class:`PostStratification`,
    :class:`Raking`.
Per-respondent estimators
    :func:`proportion`, :func:`item_index`, :func:`mean_of_item_indices`.
Sufficient statistics (statistics.md §6)
    :func:`sufficient_statistics`, :class:`SufficientStatistics`, :class:`StatisticsDesign`.
Indices driven by an instrument's index rules
    :func:`compute_indices` (per-respondent data), :func:`indices_from_statistics` (the
    sufficient-statistics tables the web app builds with one ``GROUP BY``),
    :func:`result_columns`, :func:`add_period`, :func:`period_labels`.
Comparing domains (statistics.md §5), from the results of :func:`indices_from_statistics`
    :func:`change`, :func:`period_changes` (:class:`Change`); :func:`shrink`,
    :func:`fit_beta_prior` (:class:`Ranking`, :class:`BetaPrior`); :func:`funnel`
    (:class:`Funnel`); :func:`below_target` (:class:`BelowTarget`).
Key drivers (per-respondent data)
    :func:`key_drivers` (:class:`KeyDrivers`).
Reading large files
    :func:`scan_responses` (:class:`ScannedResponses`): validation and sufficient statistics in
    one streaming pass over a responses CSV.
Results
    :class:`Estimate`; intervals in :mod:`analysis.intervals`.
"""

from analysis.comparisons import (
    BelowTarget,
    BetaPrior,
    Change,
    Funnel,
    Ranking,
    below_target,
    change,
    fit_beta_prior,
    funnel,
    period_changes,
    shrink,
)
from analysis.design import SurveyDesign
from analysis.drivers import KeyDrivers, key_drivers
from analysis.errors import (
    AnalysisError,
    AnalysisWarning,
    DataError,
    WeightingError,
)
from analysis.estimators import item_index, mean_of_item_indices, proportion
from analysis.indices import compute_indices, indices_from_statistics, result_columns
from analysis.periods import add_period, period_labels
from analysis.results import Estimate
from analysis.stream import ScannedResponses, scan_responses
from analysis.sufficient import StatisticsDesign, SufficientStatistics, sufficient_statistics
from analysis.weighting import PostStratification, Raking, Totals

__version__ = "0.1.0"

__all__ = [
    "AnalysisError",
    "AnalysisWarning",
    "BelowTarget",
    "BetaPrior",
    "Change",
    "DataError",
    "Estimate",
    "Funnel",
    "KeyDrivers",
    "PostStratification",
    "Raking",
    "Ranking",
    "ScannedResponses",
    "StatisticsDesign",
    "SufficientStatistics",
    "SurveyDesign",
    "Totals",
    "WeightingError",
    "add_period",
    "below_target",
    "change",
    "compute_indices",
    "fit_beta_prior",
    "funnel",
    "indices_from_statistics",
    "item_index",
    "key_drivers",
    "mean_of_item_indices",
    "period_changes",
    "period_labels",
    "proportion",
    "result_columns",
    "scan_responses",
    "shrink",
    "sufficient_statistics",
]
