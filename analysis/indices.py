"""SIPAS indices driven by an instrument's index rules (sipas-method.md §3).

An instrument declares ``index_definitions``: objects with ``index`` (``SIPAS``, an element code
or an item code), ``kind`` (``overall``, ``element`` or ``item``), ``rule`` (``question`` or
``mean_of_items``), ``question``, ``items``, ``valid_values`` and ``satisfied_values`` (see
``surveys.IndexDefinition``). Rule ``question`` is the item index of one question and runs on
both the per-respondent and the sufficient-statistics path; ``mean_of_items`` (the mean of the
item indices of ``items``, :func:`analysis.estimators.mean_of_item_indices`) needs per-respondent
data.

The output is one row per index × domain with the columns of interfaces.md §4 "Results":
``index, kind, <by columns>, estimate, se, ci_low, ci_high, n, n_eff, deff, flag``. The
whole-sample rows come first, with blank by-columns; then every domain (the crossing of the
``by`` columns, sorted), each with its rows in the instrument's order. A domain whose key has a
blank value (e.g. gender not given) is not reported on its own: its respondents are in the
whole-sample rows.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from analysis.design import SurveyDesign, as_columns
from analysis.errors import AnalysisError
from analysis.estimators import mean_of_item_indices
from analysis.results import Estimate
from analysis.sufficient import StatisticsDesign, SufficientStatistics, sufficient_statistics
from analysis.weighting import PostStratification, Raking

__all__ = [
    "ESTIMATE_COLUMNS",
    "compute_indices",
    "index_questions",
    "indices_from_statistics",
    "result_columns",
]

ESTIMATE_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "n", "n_eff", "deff", "flag")
RULES = ("question", "mean_of_items")
KINDS = ("overall", "element", "item")


def result_columns(by: Sequence[str] = ()) -> list[str]:
    """Columns of the results table for the given ``by`` columns."""
    return ["index", "kind", *by, *ESTIMATE_COLUMNS]


def _check(definition: Any) -> None:
    if definition.rule not in RULES:
        raise AnalysisError(f"index {definition.index}: unknown rule {definition.rule!r}")
    if definition.kind not in KINDS:
        raise AnalysisError(f"index {definition.index}: unknown kind {definition.kind!r}")
    if definition.rule == "question" and not definition.question:
        raise AnalysisError(f"index {definition.index}: rule 'question' without a question")
    if definition.rule == "mean_of_items" and not definition.items:
        raise AnalysisError(f"index {definition.index}: rule 'mean_of_items' without items")


def index_questions(index_definitions: Iterable[Any]) -> tuple[str, ...]:
    """Every question code the definitions read, in order, without repeats."""
    seen: list[str] = []
    for definition in index_definitions:
        _check(definition)
        codes = [definition.question] if definition.rule == "question" else list(definition.items)
        for code in codes:
            if code not in seen:
                seen.append(code)
    return tuple(seen)


def _row(definition: Any, by: Sequence[str], values: Sequence[str], estimate: Estimate) -> dict:
    row: dict[str, Any] = {"index": definition.index, "kind": definition.kind}
    row.update(dict(zip(by, values)))
    for column in ESTIMATE_COLUMNS:
        row[column] = getattr(estimate, column)
    return row


def _assemble(
    by: Sequence[str], entries: list[tuple[tuple[int, tuple[str, ...], int], dict]]
) -> pd.DataFrame:
    entries.sort(key=lambda entry: entry[0])
    frame = pd.DataFrame([row for _, row in entries], columns=result_columns(by))
    for column in by:
        frame[column] = frame[column].fillna("").astype(object)
    frame["n"] = frame["n"].astype(np.int64)
    return frame.reset_index(drop=True)


def _by_sets(by: Sequence[str], whole_sample: bool) -> list[tuple[str, ...]]:
    sets = [()] if whole_sample else []
    if by:
        sets.append(tuple(by))
    if not sets:
        raise AnalysisError("nothing to estimate: no by columns and whole_sample=False")
    return sets


def indices_from_statistics(
    statistics: SufficientStatistics,
    index_definitions: Iterable[Any],
    *,
    strata: str | Sequence[str] | None = None,
    weighting: PostStratification | Raking | None = None,
    by: str | Sequence[str] | None = None,
    ci: str = "korn-graubard",
    level: float = 0.95,
    whole_sample: bool = True,
    design: StatisticsDesign | None = None,
    locate: Any = None,
) -> pd.DataFrame:
    """Results rows from the sufficient-statistics tables (the web app's entry point).

    Parameters
    ----------
    statistics : SufficientStatistics
        The ``respondents`` and ``answers`` tables of :mod:`analysis.sufficient`, whose keys
        include ``strata``, the weighting's key columns and ``by``.
    index_definitions : iterable
        The instrument's index definitions; all must have rule ``question``.
    strata, weighting
        The design (see :class:`~analysis.sufficient.StatisticsDesign`); ignored if ``design``
        is given.
    by : str or sequence of str, optional
        Domain columns (crossed).
    ci : {"korn-graubard", "logit", "wald"}
    level : float
    whole_sample : bool
        Include the whole-sample rows (default True).
    design : StatisticsDesign, optional
        A design already built on ``statistics`` (saves recomputing the weights).
    locate : callable, optional
        Passed to :class:`~analysis.sufficient.StatisticsDesign` for error messages.

    Returns
    -------
    pandas.DataFrame
        Columns :func:`result_columns` ``(by)``.
    """
    definitions = list(index_definitions)
    for definition in definitions:
        _check(definition)
        if definition.rule != "question":
            raise AnalysisError(
                f"index {definition.index}: rule {definition.rule!r} needs per-respondent data "
                "(use compute_indices)"
            )
    by = as_columns(by)
    design = design or StatisticsDesign(
        statistics, strata=strata, weighting=weighting, locate=locate
    )
    parts = []
    for by_set in _by_sets(by, whole_sample):
        for order, definition in enumerate(definitions):
            labels, columns = design.estimate_columns(
                definition.question,
                valid_values=definition.valid_values,
                satisfied_values=definition.satisfied_values,
                by=by_set,
                ci=ci,
                level=level,
            )
            part = pd.DataFrame({"index": definition.index, "kind": definition.kind}, index=labels.index)
            reported = np.ones(len(labels), dtype=bool)
            for column in by:
                if column in by_set:
                    values = labels[column].astype(str).to_numpy(dtype=object)
                    reported &= values != ""
                else:
                    values = np.full(len(labels), "", dtype=object)
                part[column] = values
            for column in ESTIMATE_COLUMNS:
                part[column] = columns[column]
            part["_domain"] = 1 if by_set else 0
            part["_order"] = order
            parts.append(part.loc[reported])
    if not parts:
        return pd.DataFrame(columns=result_columns(by))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.sort_values(["_domain", *by, "_order"], kind="stable")
    frame = frame[result_columns(by)].reset_index(drop=True)
    for column in by:
        frame[column] = frame[column].astype(object)
    frame["n"] = frame["n"].astype(np.int64)
    return frame


def compute_indices(
    data: pd.DataFrame,
    index_definitions: Iterable[Any],
    *,
    strata: str | Sequence[str] | None = None,
    weights: str | Sequence[float] | np.ndarray | None = None,
    weighting: PostStratification | Raking | None = None,
    by: str | Sequence[str] | None = None,
    ci: str = "korn-graubard",
    level: float = 0.95,
    whole_sample: bool = True,
    source: str | None = None,
    rows: Sequence[int] | None = None,
    statistics: SufficientStatistics | None = None,
    locate: Any = None,
) -> pd.DataFrame:
    """Results rows from per-respondent data.

    Rule ``question`` goes through :func:`~analysis.sufficient.sufficient_statistics` and
    :func:`indices_from_statistics` (the path the web app uses, exact, and fast on large files);
    rule ``mean_of_items`` through a :class:`~analysis.design.SurveyDesign` and
    :func:`~analysis.estimators.mean_of_item_indices`.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent: answer codes (strings) in one column per question.
    index_definitions : iterable
        The instrument's index definitions.
    strata, weights, weighting
        The design: stratum columns, base weights (column name or values), calibration.
    by : str or sequence of str, optional
        Domain columns (crossed).
    ci, level
        Interval method and confidence level.
    whole_sample : bool
        Include the whole-sample rows (default True).
    source, rows
        File name and row numbers for error messages.
    statistics : SufficientStatistics, optional
        The sufficient statistics of ``data`` (keys: strata, weighting keys and ``by``), when
        already tabulated (e.g. by :func:`analysis.stream.scan_responses`); then ``data`` is read
        only for rule ``mean_of_items`` and may be None if no definition has that rule.
    locate : callable, optional
        ``locate(cell) -> (file, row)`` for weighting errors when ``statistics`` is given.

    Returns
    -------
    pandas.DataFrame
        Columns :func:`result_columns` ``(by)``.
    """
    definitions = list(index_definitions)
    index_questions(definitions)
    strata = as_columns(strata)
    by = as_columns(by)
    by_question = [(i, d) for i, d in enumerate(definitions) if d.rule == "question"]
    by_items = [(i, d) for i, d in enumerate(definitions) if d.rule == "mean_of_items"]
    entries: list = []
    if by_question:
        if statistics is None:
            keys = tuple(dict.fromkeys([*strata, *(weighting.keys if weighting else ()), *by]))
            statistics = sufficient_statistics(
                data,
                keys=keys,
                questions=index_questions(d for _, d in by_question),
                weights=weights,
            )
            line_numbers = np.arange(len(data)) + 2 if rows is None else np.asarray(rows)

            def locate(cell: dict) -> tuple[str | None, int | None]:
                match = np.ones(len(data), dtype=bool)
                for column, value in cell.items():
                    text = data[column].astype(object).where(data[column].notna(), "").astype(str)
                    match &= (text.str.strip() == value).to_numpy()
                hits = np.flatnonzero(match)
                return source, (int(line_numbers[hits[0]]) if len(hits) else None)

        table = indices_from_statistics(
            statistics,
            [d for _, d in by_question],
            strata=strata,
            weighting=weighting,
            by=by,
            ci=ci,
            level=level,
            whole_sample=whole_sample,
            locate=locate,
        )
        if not by_items:
            return table  # already in the instrument's order
        original = {position: i for position, (i, _) in enumerate(by_question)}
        names = [d.index for _, d in by_question]
        for record in table.to_dict("records"):
            order = original[names.index(record["index"])]
            full = tuple(record[c] for c in by)
            is_domain = 0 if all(v == "" for v in full) else 1
            entries.append(((is_domain, full, order), record))
    if by_items:
        design = SurveyDesign(
            data, strata=strata, weights=weights, weighting=weighting, source=source, rows=rows
        )
        keys = pd.DataFrame(
            {c: data[c].astype(object).where(data[c].notna(), "").astype(str).str.strip() for c in by},
            index=data.index,
        )
        for by_set in _by_sets(by, whole_sample):
            if by_set:
                groups = keys.groupby(list(by_set), sort=True).indices
                domains = [
                    (key if isinstance(key, tuple) else (key,), index)
                    for key, index in sorted(groups.items())
                ]
            else:
                domains = [((), np.arange(len(data)))]
            for values, index in domains:
                values = tuple(str(v) for v in values)
                if any(value == "" for value in values):
                    continue
                mask = np.zeros(len(data), dtype=bool)
                mask[index] = True
                full = tuple(values[by_set.index(c)] if c in by_set else "" for c in by)
                for order, definition in by_items:
                    estimate = mean_of_item_indices(
                        design,
                        definition.items,
                        valid_values=definition.valid_values,
                        satisfied_values=definition.satisfied_values,
                        domain=mask,
                        ci=ci,
                        level=level,
                    )
                    entries.append(
                        ((1 if by_set else 0, full, order), _row(definition, by, full, estimate))
                    )
    return _assemble(by, entries)
