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
Results
    :class:`Estimate`; intervals in :mod:`analysis.intervals`.
"""

from analysis.design import SurveyDesign
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
from analysis.sufficient import StatisticsDesign, SufficientStatistics, sufficient_statistics
from analysis.weighting import PostStratification, Raking, Totals

__version__ = "0.1.0"

__all__ = [
    "AnalysisError",
    "AnalysisWarning",
    "DataError",
    "Estimate",
    "PostStratification",
    "Raking",
    "StatisticsDesign",
    "SufficientStatistics",
    "SurveyDesign",
    "Totals",
    "WeightingError",
    "add_period",
    "compute_indices",
    "indices_from_statistics",
    "item_index",
    "mean_of_item_indices",
    "period_labels",
    "proportion",
    "result_columns",
    "sufficient_statistics",
]
