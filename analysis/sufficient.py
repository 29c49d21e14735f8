"""Estimation from sufficient statistics (statistics.md §6).

Every estimate of this package depends on the data only through sums per group of respondents
that share a stratum, a weighting cell and a domain. The web app obtains them with one SQL
``GROUP BY`` (or :func:`sufficient_statistics` builds them from per-respondent data), and
:class:`StatisticsDesign` turns them into results identical, to floating-point accuracy, to the
per-respondent computation of :mod:`analysis.estimators` (and so to R).

The two tables
--------------
``keys`` are the union of the stratum columns, the weighting-cell columns (the totals' key
columns; for raking, of every margin) and the domain columns the caller may report by (e.g.
``center_code``, ``field_code``, ``period``). Key values are strings; a missing value is ``""``.
``d`` is the base weight (1 without column weights, else the ``weight`` column).

``respondents``: one row per combination of key values present, over **all** respondents of the
file (after any exclusion), whether or not they answered anything:

    ========== ==========================================================
    <keys>     the key values (strings)
    count      number of respondents (int)
    sum_w      Σ d
    sum_w2     Σ d²
    ========== ==========================================================

    SQL: ``SELECT <keys>, COUNT(*) AS count, SUM(d) AS sum_w, SUM(d*d) AS sum_w2
    FROM responses GROUP BY <keys>``

``answers``: one row per combination of key values, question code and answer code present among
non-blank answers (rows for blank answers may be present or absent; they are ignored):

    ========== ==========================================================
    <keys>     the key values (strings)
    question   question code (e.g. ``HL``)
    answer     answer code as a string (``"1"`` … ``"5"``, ``"9"``, ...)
    count      number of respondents who gave that answer
    sum_w      Σ d
    sum_w2     Σ d²
    ========== ==========================================================

    SQL: ``SELECT <keys>, a.question, a.answer, COUNT(*), SUM(d), SUM(d*d) FROM responses r
    JOIN answers a ON ... GROUP BY <keys>, a.question, a.answer``

n_h (respondents per stratum) is Σ ``count`` of ``respondents`` over the stratum.

Use (the web app)
-----------------
::

    from analysis import Raking, SufficientStatistics, Totals, indices_from_statistics

    statistics = SufficientStatistics(("center_code", "field_code", "period"), respondents, answers)
    results = indices_from_statistics(
        statistics,
        instrument.index_definitions,          # rule "question" only on this path
        strata=("center_code", "period"),
        weighting=None,                        # or PostStratification(Totals.from_frame(df))
        by=("center_code",),                   # or () for the whole sample only
        ci="korn-graubard",
        level=0.95,
    )                                          # DataFrame, columns of interfaces.md §4 Results

The tables must hold one instrument version's responses (versions are never pooled), or carry
``instrument`` as a key and as a ``by`` column. :class:`StatisticsDesign` can be built once and
passed as ``design=`` to serve several ``by`` requests without recomputing the weights.

Formulas
--------
For a question, a domain k and a group r of ``respondents`` (stratum h, cell c, calibration
factor g_c, so w = g_c·d), let a1, a2 be Σd, Σd² over satisfied valid answers and b1, b2 over
valid answers. Then A = Σ g·a1, B = Σ g·b1, p̂ = A/B, n_eff = B²/Σ g²·b2, and with
T1 = (a1 − p̂ b1)/B, T2 = ((1−p̂)² a2 + p̂² (b2 − a2))/B², T3 = (a2 − p̂ b2)/B (the sums of d·u,
d²·u², d²·u over the group, u = δ(y − p̂)/B):

    S1_h = Σ_{r∈k,h} g T1 − Σ_c g_c b_c D1_hc
    S2_h = Σ_{r∈k,h} g² (T2 − 2 b_c T3) + Σ_c g_c² b_c² D2_hc
    V̂ = Σ_{n_h>1} n_h/(n_h−1) (S2_h − S1_h²/n_h) + Σ_{n_h=1} S2_h

with D1_hc, D2_hc = Σd, Σd² over all respondents of stratum h in cell c, and b_c the calibration
fit: 0 without calibration; ū_c = Σ_{r∈k, c} T1 / D1_c for post-stratification; x_c'B̂ with
B̂ = (X'DX)⁺ X'U for raking (X the margin dummies of the cells, D = diag(D1_c),
U_c = Σ_{r∈k, c} T1). These are the per-respondent residuals of :mod:`analysis.design`, summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.design import as_columns
from analysis.errors import AnalysisError, DataError
from analysis.estimators import DEFAULT_SATISFIED, DEFAULT_VALID
from analysis.intervals import estimate_columns
from analysis.results import Estimate
from analysis.weighting import PostStratification, Raking, calibration_factors

__all__ = [
    "ANSWER_COLUMNS",
    "RESPONDENT_COLUMNS",
    "StatisticsDesign",
    "SufficientStatistics",
    "sufficient_statistics",
]

#: Columns of the ``respondents`` table beside the keys.
RESPONDENT_COLUMNS = ("count", "sum_w", "sum_w2")
#: Columns of the ``answers`` table beside the keys.
ANSWER_COLUMNS = ("question", "answer", "count", "sum_w", "sum_w2")

def _normalised_codes(*parts: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of values compared as stripped strings (missing = ``""``), and the sorted
    distinct strings; several parts are coded together and their codes concatenated.

    Only the distinct raw values are converted, so this is fast on long columns; categorical
    columns (what :func:`analysis.stream.scan_responses` builds) are not even factorised.
    """
    raw = []
    for values in parts:
        if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy(dtype=np.int64)
            uniques = values.cat.categories.to_numpy(dtype=object)
        else:
            codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
        raw.append((codes, uniques))
    labels = [
        "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()
        for _, uniques in raw
        for value in uniques
    ]
    uniques, inverse = np.unique(np.array(labels + [""], dtype=object), return_inverse=True)
    out = []
    offset = 0
    for codes, part_uniques in raw:
        # a missing value (code -1) maps to the "" appended last
        out.append(np.where(codes < 0, inverse[-1], inverse[np.maximum(codes, 0) + offset]))
        offset += len(part_uniques)
    joined = out[0] if len(out) == 1 else np.concatenate(out)
    return joined.astype(np.int64), uniques


def _combine(
    codes: Sequence[np.ndarray], uniques: Sequence[np.ndarray], columns: Sequence[str], size: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """Group code of every row from per-column codes (lexicographic order) and the labels."""
    if not columns:
        return np.zeros(size, dtype=np.int64), pd.DataFrame(index=[0])
    dims = [len(u) for u in uniques]
    if float(np.prod(np.array(dims, dtype=float))) < 2.0**62:
        flat = np.ravel_multi_index(tuple(codes), tuple(dims))
        distinct, inverse = np.unique(flat, return_inverse=True)
        parts = np.unravel_index(distinct, tuple(dims))
    else:
        distinct, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
        parts = tuple(distinct[:, j] for j in range(len(columns)))
    labels = pd.DataFrame({c: u[part] for c, u, part in zip(columns, uniques, parts)})
    return inverse.reshape(-1).astype(np.int64), labels


@dataclass(frozen=True, eq=False)
class SufficientStatistics:
    """The two tables of the module docstring.

    Parameters
    ----------
    keys : tuple of str
        Key columns shared by both tables.
    respondents : pandas.DataFrame
        ``keys`` + ``count``, ``sum_w``, ``sum_w2``.
    answers : pandas.DataFrame
        ``keys`` + ``question``, ``answer``, ``count``, ``sum_w``, ``sum_w2``.
    """

    keys: tuple[str, ...]
    respondents: pd.DataFrame
    answers: pd.DataFrame

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        for name, table, needed in (
            ("respondents", self.respondents, RESPONDENT_COLUMNS),
            ("answers", self.answers, ANSWER_COLUMNS),
        ):
            missing = [c for c in (*self.keys, *needed) if c not in table.columns]
            if missing:
                raise AnalysisError(f"the {name} table lacks the columns {', '.join(missing)}")


def sufficient_statistics(
    data: pd.DataFrame,
    *,
    keys: str | Sequence[str] | None,
    questions: Sequence[str],
    weights: str | Sequence[float] | np.ndarray | None = None,
) -> SufficientStatistics:
    """Build the sufficient-statistics tables from per-respondent data.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent, answer codes in one column per question.
    keys : str or sequence of str
        Stratum, weighting-cell and domain columns.
    questions : sequence of str
        Question columns to tabulate.
    weights : str or array-like, optional
        Base weights d (a column name or values); default 1.

    Returns
    -------
    SufficientStatistics
    """
    keys = as_columns(keys)
    n = len(data)
    if weights is None:
        d = np.ones(n)
    elif isinstance(weights, str):
        d = pd.to_numeric(data[weights], errors="coerce").to_numpy(dtype=float)
    else:
        d = np.asarray(weights, dtype=float)
    bad = ~np.isfinite(d) | (d <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"weight {d[i]!r} at position {i} is not a finite number > 0")
    per_column = [_normalised_codes(data[key]) for key in keys]
    group, labels = _combine(
        [c for c, _ in per_column], [u for _, u in per_column], keys, n
    )
    n_groups = len(labels)
    respondents = labels.copy()
    respondents["count"] = np.bincount(group, minlength=n_groups)
    respondents["sum_w"] = np.bincount(group, weights=d, minlength=n_groups)
    respondents["sum_w2"] = np.bincount(group, weights=d * d, minlength=n_groups)
    parts = []
    for question in questions:
        codes, uniques = _normalised_codes(data[question])
        blank = int(np.searchsorted(uniques, ""))
        given = codes != blank
        combined = group[given] * len(uniques) + codes[given]
        distinct, inverse = np.unique(combined, return_inverse=True)
        part = labels.iloc[distinct // len(uniques)].reset_index(drop=True)
        part["question"] = question
        part["answer"] = uniques[distinct % len(uniques)]
        part["count"] = np.bincount(inverse, minlength=len(distinct))
        part["sum_w"] = np.bincount(inverse, weights=d[given], minlength=len(distinct))
        part["sum_w2"] = np.bincount(inverse, weights=d[given] ** 2, minlength=len(distinct))
        parts.append(part)
    if parts:
        answers = pd.concat(parts, ignore_index=True)
    else:
        answers = pd.DataFrame(columns=[*keys, *ANSWER_COLUMNS])
    if not keys:
        respondents = respondents.reset_index(drop=True)
    return SufficientStatistics(keys=keys, respondents=respondents, answers=answers)


def _codes(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Group code of every row and the table of distinct key values (sorted)."""
    per_column = [_normalised_codes(frame[c]) for c in columns]
    return _combine([c for c, _ in per_column], [u for _, u in per_column], columns, len(frame))


class StatisticsDesign:
    """The survey design of :class:`analysis.design.SurveyDesign`, over sufficient statistics.

    Parameters
    ----------
    statistics : SufficientStatistics
    strata : str or sequence of str, optional
        Stratum columns (crossed), among ``statistics.keys``.
    weighting : PostStratification or Raking, optional
        Calibration; its key columns must be among ``statistics.keys``.
    locate : callable, optional
        ``locate({column: value, ...}) -> (file, row)``: where the first response of a weighting
        cell is, so that "responses but no total" errors can name a row.

    Notes
    -----
    The formulas are in the module docstring; see :meth:`estimate`.
    """

    def __init__(
        self,
        statistics: SufficientStatistics,
        *,
        strata: str | Sequence[str] | None = None,
        weighting: PostStratification | Raking | None = None,
        locate: Callable[[Mapping[str, str]], tuple[str | None, int | None]] | None = None,
    ) -> None:
        self.statistics = statistics
        self.strata_columns = as_columns(strata)
        self.weighting = weighting
        needed = [*self.strata_columns, *(weighting.keys if weighting is not None else ())]
        unknown = [c for c in needed if c not in statistics.keys]
        if unknown:
            raise AnalysisError(f"columns {', '.join(unknown)} are not keys of the statistics")
        respondents = statistics.respondents.reset_index(drop=True)
        answers = statistics.answers.reset_index(drop=True)
        n_resp = len(respondents)
        keys = list(statistics.keys)
        per_column = [_normalised_codes(respondents[k], answers[k]) for k in keys]
        joint, labels = _combine(
            [c for c, _ in per_column], [u for _, u in per_column], keys, n_resp + len(answers)
        )
        # groups = distinct key combinations of the respondents table (duplicates summed)
        resp_codes = joint[:n_resp]
        group_ids, group_of = np.unique(resp_codes, return_inverse=True)
        self._groups = labels.iloc[group_ids].reset_index(drop=True) if keys else pd.DataFrame(
            index=range(len(group_ids))
        )
        first = np.unique(group_of, return_index=True)[1]
        self._key_codes = {k: per_column[j][0][:n_resp][first] for j, k in enumerate(keys)}
        self._key_uniques = {k: per_column[j][1] for j, k in enumerate(keys)}
        size = len(group_ids)
        self._count = np.bincount(group_of, weights=respondents["count"].to_numpy(float), minlength=size)
        self._d1 = np.bincount(group_of, weights=respondents["sum_w"].to_numpy(float), minlength=size)
        self._d2 = np.bincount(group_of, weights=respondents["sum_w2"].to_numpy(float), minlength=size)
        sums_ok = (
            np.isfinite(self._d1) & np.isfinite(self._d2) & (self._count > 0) & (self._d1 > 0)
        )
        if not sums_ok.all():
            raise AnalysisError(
                "the respondents table needs count > 0 and finite sum_w > 0 in every row"
            )
        answer_codes = joint[n_resp:]
        position = np.searchsorted(group_ids, answer_codes)
        position = np.minimum(position, max(size - 1, 0))
        if len(answer_codes) and not np.array_equal(group_ids[position], answer_codes):
            raise AnalysisError("the answers table has key values absent from the respondents table")
        question_codes, question_names = _normalised_codes(answers["question"])
        value_codes, value_names = _normalised_codes(answers["answer"])
        keep = value_names[value_codes] != ""
        order = np.argsort(question_codes[keep], kind="stable")
        columns = {
            "row": position[keep][order],
            "answer": value_codes[keep][order],
            "count": answers["count"].to_numpy(dtype=float)[keep][order],
            "sum_w": answers["sum_w"].to_numpy(dtype=float)[keep][order],
            "sum_w2": answers["sum_w2"].to_numpy(dtype=float)[keep][order],
        }
        sorted_questions = question_codes[keep][order]
        bounds = np.searchsorted(sorted_questions, np.arange(len(question_names) + 1))
        self._answer_names = value_names
        self._by_question = {
            question_names[q]: {c: v[bounds[q] : bounds[q + 1]] for c, v in columns.items()}
            for q in range(len(question_names))
            if bounds[q + 1] > bounds[q]
        }
        self._domains: dict[tuple[str, ...], tuple[np.ndarray, pd.DataFrame]] = {}
        self._h, _ = self._group_codes(self.strata_columns)
        self.n_strata = int(self._h.max(initial=-1)) + 1
        self.stratum_sizes = np.bincount(self._h, weights=self._count, minlength=self.n_strata)
        self.lonely_strata = self.stratum_sizes == 1
        self._scale = np.where(
            self.lonely_strata, 1.0, self.stratum_sizes / np.maximum(self.stratum_sizes - 1, 1)
        )
        if weighting is None:
            self._c = np.zeros(len(self._groups), dtype=np.int64)
            self.n_cells = 1
            self._g_cell = np.ones(1)
        else:
            self._c, cells = self._group_codes(weighting.keys)
            self.n_cells = len(cells)
            self._cell_d1 = np.bincount(self._c, weights=self._d1, minlength=self.n_cells)
            cell_locator = None
            if locate is not None:
                columns = list(weighting.keys)

                def cell_locator(i: int) -> tuple[str | None, int | None]:
                    return locate(dict(zip(columns, cells.iloc[i][columns])))

            self._g_cell = calibration_factors(
                cells, self._cell_d1, weighting, locate=cell_locator
            )
            self._prepare_calibration_fit(cells, weighting)
        self._g = self._g_cell[self._c]
        self.weights = self._g * self._d1

    # ------------------------------------------------------------------ helpers
    def _prepare_calibration_fit(
        self, cells: pd.DataFrame, weighting: PostStratification | Raking
    ) -> None:
        """Precompute what the calibrated variance needs on the cell table (see :meth:`_variances`).

        The fit of the base-weighted regression of U (one row per domain, one column per cell) on
        the calibration dummies is split as x_c'B̂ = F_{k,a(c)} + β_k·Z_c. Level a(c) is the
        cell's level in the largest margin A (for post-stratification, the cell itself), with
        F_{k,a} = Σ_{c∈a} U_kc / D1_a; the other margins B enter through β_k (p_B values per
        domain) and Z_c = x_{B,c} − (X_A'DX_B)_{a(c)} / D1_{a(c)}. The normal equations are solved
        blockwise: D_A is diagonal, and S = X_B'DX_B − X_B'DX_A D_A⁻¹ X_A'DX_B is inverted once
        (pseudo-inverse: the margins share the intercept, so X is never of full rank; the fitted
        values are unique). Every sum over cells that the variance needs is then a sum over the
        levels a domain touches plus small p_B × p_B forms, so a domain costs what its own groups
        cost, not the number of cells.
        """
        n_cells = self.n_cells
        if isinstance(weighting, PostStratification):
            level = np.arange(n_cells)
            others: list = []
        else:
            designs = []
            for margin in weighting.margins:
                codes, labels = _codes(cells, margin.keys)
                designs.append((codes, len(labels)))
            largest = int(np.argmax([size for _, size in designs]))
            level = designs[largest][0]
            others = [
                sparse.csr_matrix(
                    (np.ones(n_cells), (np.arange(n_cells), codes)), shape=(n_cells, size)
                )
                for i, (codes, size) in enumerate(designs)
                if i != largest
            ]
        n_levels = int(level.max(initial=-1)) + 1
        self._level = level
        self._n_levels = n_levels
        self._level_d1 = np.bincount(level, weights=self._cell_d1, minlength=n_levels)
        if others:
            xb = sparse.hstack(others, format="csr")
            weighted_b = sparse.diags(self._cell_d1) @ xb
            xa = sparse.csr_matrix(
                (np.ones(n_cells), (np.arange(n_cells), level)), shape=(n_cells, n_levels)
            )
            mab = np.asarray((xa.T @ weighted_b).todense())
            mbb = np.asarray((xb.T @ weighted_b).todense())
            schur = mbb - mab.T @ (mab / self._level_d1[:, None])
            self._schur_pinv = np.linalg.pinv(schur, rcond=1e-12, hermitian=True)
            self._xb = xb
            self._mab = mab
            self._z = np.asarray(xb.todense()) - (mab / self._level_d1[:, None])[level]
        else:
            self._schur_pinv = np.zeros((0, 0))
            self._xb = sparse.csr_matrix((n_cells, 0))
            self._mab = np.zeros((n_levels, 0))
            self._z = np.zeros((n_cells, 0))
        # per (stratum, cell) sums over all respondents
        hc = self._h * n_cells + self._c
        pairs, inverse = np.unique(hc, return_inverse=True)
        pair_h, pair_c = pairs // n_cells, pairs % n_cells
        g = self._g_cell[pair_c]
        a1 = g * np.bincount(inverse, weights=self._d1, minlength=len(pairs))
        a2 = g * g * np.bincount(inverse, weights=self._d2, minlength=len(pairs))
        n_h = self.stratum_sizes
        # V = Σ_h σ_h S2_h − Σ_h τ_h S1_h²: σ = n_h/(n_h−1) (1 for a lonely stratum), τ = σ/n_h
        # (0 for a lonely stratum, whose contribution is uncentred)
        self._sigma = self._scale
        self._tau = np.where(self.lonely_strata, 0.0, self._scale / np.maximum(n_h, 1))
        alpha2 = np.bincount(pair_c, weights=self._sigma[pair_h] * a2, minlength=n_cells)
        self._alpha2_level = np.bincount(level, weights=alpha2, minlength=n_levels)
        p_b = self._z.shape[1]
        self._alpha2_z_level = np.column_stack(
            [np.bincount(level, weights=alpha2 * self._z[:, j], minlength=n_levels) for j in range(p_b)]
        ) if p_b else np.zeros((n_levels, 0))
        self._q = self._z.T @ (alpha2[:, None] * self._z)
        self._a1_level = sparse.csr_matrix(
            (a1, (level[pair_c], pair_h)), shape=(n_levels, self.n_strata)
        )
        a1_cells = sparse.csr_matrix((a1, (pair_h, pair_c)), shape=(self.n_strata, n_cells))
        w = np.asarray(a1_cells @ self._z) if p_b else np.zeros((self.n_strata, 0))
        self._w_tau = self._tau[:, None] * w
        self._r = w.T @ self._w_tau

    def _group_codes(self, columns: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
        return _combine(
            [self._key_codes[c] for c in columns],
            [self._key_uniques[c] for c in columns],
            columns,
            len(self._groups),
        )

    def domains(self, by: str | Sequence[str] | None) -> tuple[np.ndarray, pd.DataFrame]:
        """Domain code of every respondent group and the table of domain key values (sorted)."""
        by = as_columns(by)
        unknown = [c for c in by if c not in self.statistics.keys]
        if unknown:
            raise AnalysisError(f"columns {', '.join(unknown)} are not keys of the statistics")
        if by not in self._domains:
            self._domains[by] = self._group_codes(by)
        return self._domains[by]

    def _question_sums(
        self, question: str, valid_values: Sequence[str], satisfied_values: Sequence[str]
    ) -> tuple[np.ndarray, ...]:
        size = len(self._groups)
        part = self._by_question.get(question)
        if part is None:
            zero = np.zeros(size)
            return zero, zero, zero, zero, zero
        names = self._answer_names
        valid_codes = np.flatnonzero(np.isin(names, [str(v) for v in valid_values]))
        satisfied_codes = np.flatnonzero(np.isin(names, [str(v) for v in satisfied_values]))
        valid = np.isin(part["answer"], valid_codes)
        satisfied = valid & np.isin(part["answer"], satisfied_codes)
        rows = part["row"]
        w1, w2, count = part["sum_w"], part["sum_w2"], part["count"]

        def total(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
            return np.bincount(rows[mask], weights=values[mask], minlength=size)

        return (
            total(satisfied, w1),
            total(satisfied, w2),
            total(valid, w1),
            total(valid, w2),
            total(valid, count),
        )

    def _variances(
        self,
        dom: np.ndarray,
        n_domains: int,
        p: np.ndarray,
        big_b: np.ndarray,
        sums: tuple[np.ndarray, ...],
    ) -> np.ndarray:
        a1, a2, b1, b2, _ = sums
        used = b1 > 0
        k = dom[used]
        pr = p[k]
        br = big_b[k]
        t1 = (a1[used] - pr * b1[used]) / br
        t2 = ((1 - pr) ** 2 * a2[used] + pr**2 * (b2[used] - a2[used])) / (br * br)
        t3 = (a2[used] - pr * b2[used]) / br
        h = self._h[used]
        g = self._g[used]
        n_h = self.stratum_sizes
        if self.weighting is None:
            pairs, inverse = np.unique(k * self.n_strata + h, return_inverse=True)
            s1 = np.bincount(inverse, weights=t1)
            s2 = np.bincount(inverse, weights=t2)
            ph = pairs % self.n_strata
            contribution = np.where(
                self.lonely_strata[ph], s2, self._scale[ph] * (s2 - s1 * s1 / n_h[ph])
            )
            return np.bincount(pairs // self.n_strata, weights=contribution, minlength=n_domains)
        return self._calibrated_variances(k, self._c[used], h, g, t1, t2, t3, n_domains)

    def _calibrated_variances(
        self,
        k: np.ndarray,
        c: np.ndarray,
        h: np.ndarray,
        g: np.ndarray,
        t1: np.ndarray,
        t2: np.ndarray,
        t3: np.ndarray,
        n_domains: int,
    ) -> np.ndarray:
        """V̂ of every domain under post-stratification or raking, on the cell table.

        With the split fit b_kc = F_{k,a(c)} + β_k·Z_c of :meth:`_prepare_calibration_fit`,
        E_kh = Σ_{r∈k,h} g T1 − Σ_a F_ka A1_ah (A1_ah = Σ_{c∈a} g_c D1_hc) and
        W_h = Σ_c g_c D1_hc Z_c, the module docstring's sums become

            Σ_h σ_h S2_h = Σ_r σ_h g² (T2 − 2 b_kc T3) + Σ_a F_ka² α_a + 2 Σ_a F_ka β_k·α^Z_a
                           + β_k'Qβ_k
            Σ_h τ_h S1_h² = Σ_h τ_h E_kh² − 2 β_k·Σ_h τ_h E_kh W_h + β_k'Rβ_k

        with α_c = Σ_h σ_h g_c² D2_hc summed over the cells of a level (α_a) or times Z_c (α^Z_a),
        Q = Σ_c α_c Z_c Z_c', R = Σ_h τ_h W_h W_h'. Only the (domain, level) and (domain,
        stratum) pairs that hold answers, or meet them through A1, are ever formed.
        """
        n_levels = self._n_levels
        shape = (n_domains, n_levels)
        a = self._level[c]
        ka, ka_inverse = np.unique(k * n_levels + a, return_inverse=True)
        ka_k, ka_a = ka // n_levels, ka % n_levels
        f = np.bincount(ka_inverse, weights=t1, minlength=len(ka)) / self._level_d1[ka_a]
        f_matrix = sparse.csr_matrix((f, (ka_k, ka_a)), shape=shape)
        # β_k = (X_B'U_k − X_B'DX_A D_A⁻¹ X_A'U_k) S⁺
        kc, kc_inverse = np.unique(k * self.n_cells + c, return_inverse=True)
        u_matrix = sparse.csr_matrix(
            (np.bincount(kc_inverse, weights=t1, minlength=len(kc)),
             (kc // self.n_cells, kc % self.n_cells)),
            shape=(n_domains, self.n_cells),
        )
        beta = (np.asarray((u_matrix @ self._xb).todense()) - f_matrix @ self._mab) @ self._schur_pinv
        fit = f[ka_inverse] + np.einsum("ij,ij->i", beta[k], self._z[c])
        sigma = self._sigma[h]
        s2 = np.bincount(k, weights=sigma * g * g * (t2 - 2 * fit * t3), minlength=n_domains)
        s2 += np.bincount(
            ka_k,
            weights=f * f * self._alpha2_level[ka_a]
            + 2 * f * np.einsum("ij,ij->i", beta[ka_k], self._alpha2_z_level[ka_a]),
            minlength=n_domains,
        )
        s2 += np.einsum("ij,ij->i", beta @ self._q, beta)
        kh, kh_inverse = np.unique(k * self.n_strata + h, return_inverse=True)
        local = sparse.csr_matrix(
            (np.bincount(kh_inverse, weights=g * t1, minlength=len(kh)),
             (kh // self.n_strata, kh % self.n_strata)),
            shape=(n_domains, self.n_strata),
        )
        e = (local - f_matrix @ self._a1_level).tocsr()
        s1 = np.asarray(e.multiply(e) @ self._tau).ravel()
        s1 -= 2 * np.einsum("ij,ij->i", beta, np.asarray(e @ self._w_tau))
        s1 += np.einsum("ij,ij->i", beta @ self._r, beta)
        return s2 - s1

    # ------------------------------------------------------------------ estimation
    def estimate(
        self,
        question: str,
        *,
        valid_values: Sequence[str] = DEFAULT_VALID,
        satisfied_values: Sequence[str] = DEFAULT_SATISFIED,
        by: str | Sequence[str] | None = None,
        ci: str = "korn-graubard",
        level: float = 0.95,
    ) -> tuple[pd.DataFrame, list[Estimate]]:
        """Item index of ``question`` in every domain of ``by`` (whole sample if empty).

        Returns
        -------
        domains : pandas.DataFrame
            The domains' key values, one row per domain (sorted).
        estimates : list of Estimate
            One per row of ``domains``.
        """
        labels, columns = self.estimate_columns(
            question,
            valid_values=valid_values,
            satisfied_values=satisfied_values,
            by=by,
            ci=ci,
            level=level,
        )
        fields = ("estimate", "se", "ci_low", "ci_high", "n", "n_eff", "deff", "df", "flag")
        estimates = [
            Estimate(float(e), float(s), float(lo), float(hi), int(k), float(ne), float(de), int(d), str(f))
            for e, s, lo, hi, k, ne, de, d, f in zip(*(columns[name].tolist() for name in fields))
        ]
        return labels, estimates

    def estimate_columns(
        self,
        question: str,
        *,
        valid_values: Sequence[str] = DEFAULT_VALID,
        satisfied_values: Sequence[str] = DEFAULT_SATISFIED,
        by: str | Sequence[str] | None = None,
        ci: str = "korn-graubard",
        level: float = 0.95,
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """:meth:`estimate` with the fields of :class:`~analysis.results.Estimate` as arrays
        (one element per domain), which is much faster for thousands of domains."""
        dom, labels = self.domains(by)
        n_domains = len(labels)
        sums = self._question_sums(question, valid_values, satisfied_values)
        a1, a2, b1, b2, nv = sums
        g = self._g
        big_a = np.bincount(dom, weights=g * a1, minlength=n_domains)
        big_b = np.bincount(dom, weights=g * b1, minlength=n_domains)
        w2 = np.bincount(dom, weights=g * g * b2, minlength=n_domains)
        n = np.rint(np.bincount(dom, weights=nv, minlength=n_domains)).astype(np.int64)
        p = np.divide(big_a, big_b, out=np.full(n_domains, np.nan), where=big_b > 0)
        has = nv > 0
        pairs = np.unique(dom[has] * self.n_strata + self._h[has])
        strata_in = np.bincount(pairs // self.n_strata, minlength=n_domains)
        lonely = (
            np.bincount(
                pairs // self.n_strata,
                weights=self.lonely_strata[pairs % self.n_strata],
                minlength=n_domains,
            )
            > 0
        )
        variance = self._variances(dom, n_domains, p, big_b, sums)
        with np.errstate(divide="ignore", invalid="ignore"):
            n_eff = np.where(n > 0, big_b**2 / w2, 0.0)
        columns = estimate_columns(
            p=p,
            variance=variance,
            n=n,
            n_eff=n_eff,
            df=np.where(n > 0, n - strata_in, 0),
            lonely=lonely,
            ci=ci,
            level=level,
        )
        return labels.reset_index(drop=True), columns
