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
from analysis.errors import AnalysisError
from analysis.estimators import DEFAULT_SATISFIED, DEFAULT_VALID
from analysis.intervals import make_estimate
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

_CHUNK_CELLS = 2_000_000


def _strings(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()


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
    frame = pd.DataFrame({key: _strings(data[key]) for key in keys}, index=data.index)
    group_keys = list(keys) or ["_all"]
    if not keys:
        frame["_all"] = ""
    frame["_w"] = d
    frame["_w2"] = d * d
    respondents = (
        frame.groupby(group_keys, sort=True, dropna=False)
        .agg(count=("_w", "size"), sum_w=("_w", "sum"), sum_w2=("_w2", "sum"))
        .reset_index()
    )
    parts = []
    for question in questions:
        answer = _strings(data[question])
        given = (answer != "").to_numpy()
        part = frame.loc[given, [*group_keys, "_w", "_w2"]].copy()
        part["question"] = question
        part["answer"] = answer[given].to_numpy()
        parts.append(part)
    columns = [*group_keys, "question", "answer", "_w", "_w2"]
    long = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    if len(long):
        answers = (
            long.groupby([*group_keys, "question", "answer"], sort=True, dropna=False)
            .agg(count=("_w", "size"), sum_w=("_w", "sum"), sum_w2=("_w2", "sum"))
            .reset_index()
        )
    else:
        answers = pd.DataFrame(columns=[*group_keys, *ANSWER_COLUMNS])
    if not keys:
        respondents = respondents.drop(columns="_all")
        answers = answers.drop(columns="_all")
    return SufficientStatistics(keys=keys, respondents=respondents, answers=answers)


def _codes(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Group code of every row and the table of distinct key values (sorted)."""
    if not columns:
        return np.zeros(len(frame), dtype=np.int64), pd.DataFrame(index=[0])
    grouped = frame.groupby(list(columns), sort=True, dropna=False)
    codes = grouped.ngroup().to_numpy(np.int64)
    labels = grouped.size().reset_index()[list(columns)]
    return codes, labels


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
        groups = statistics.respondents.reset_index(drop=True)
        self._groups = pd.DataFrame(
            {key: _strings(groups[key]) for key in statistics.keys}, index=groups.index
        )
        self._count = groups["count"].to_numpy(dtype=float)
        self._d1 = groups["sum_w"].to_numpy(dtype=float)
        self._d2 = groups["sum_w2"].to_numpy(dtype=float)
        self._h, _ = _codes(self._groups, self.strata_columns)
        self.n_strata = int(self._h.max(initial=-1)) + 1
        self.stratum_sizes = np.bincount(self._h, weights=self._count, minlength=self.n_strata)
        self.lonely_strata = self.stratum_sizes == 1
        self._scale = np.where(
            self.lonely_strata, 1.0, self.stratum_sizes / np.maximum(self.stratum_sizes - 1, 1)
        )
        if weighting is None:
            self._c = np.zeros(len(groups), dtype=np.int64)
            self.n_cells = 1
            self._g_cell = np.ones(1)
        else:
            self._c, cells = _codes(self._groups, weighting.keys)
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
            hc = self._h * self.n_cells + self._c
            pairs, inverse = np.unique(hc, return_inverse=True)
            pair_h, pair_c = pairs // self.n_cells, pairs % self.n_cells
            d1_hc = np.bincount(inverse, weights=self._d1, minlength=len(pairs))
            d2_hc = np.bincount(inverse, weights=self._d2, minlength=len(pairs))
            g = self._g_cell[pair_c]
            shape = (self.n_cells, self.n_strata)
            self._a1 = sparse.csr_matrix((g * d1_hc, (pair_c, pair_h)), shape=shape)
            self._a2 = sparse.csr_matrix((g * g * d2_hc, (pair_c, pair_h)), shape=shape)
            if isinstance(weighting, Raking):
                blocks = []
                for margin in weighting.margins:
                    level, _ = _codes(cells, margin.keys)
                    blocks.append(
                        sparse.csr_matrix(
                            (np.ones(self.n_cells), (np.arange(self.n_cells), level)),
                            shape=(self.n_cells, int(level.max()) + 1),
                        )
                    )
                self._x = sparse.hstack(blocks, format="csr")
                xtdx = (self._x.T @ sparse.diags(self._cell_d1) @ self._x).toarray()
                self._xtdx_pinv = np.linalg.pinv(xtdx, rcond=1e-12, hermitian=True)
        self._g = self._g_cell[self._c]
        self.weights = self._g * self._d1
        answers = statistics.answers
        answers = answers.loc[_strings(answers["answer"]) != ""]
        index = self._groups.copy()
        index["_row"] = np.arange(len(index))
        keyed = pd.DataFrame({key: _strings(answers[key]) for key in statistics.keys})
        if statistics.keys:
            rows = keyed.merge(index, on=list(statistics.keys), how="left")["_row"].to_numpy()
        else:
            rows = np.zeros(len(answers))
        if np.isnan(rows.astype(float)).any():
            raise AnalysisError("the answers table has key values absent from the respondents table")
        self._answers = pd.DataFrame(
            {
                "row": rows.astype(np.int64),
                "question": _strings(answers["question"]).to_numpy(),
                "answer": _strings(answers["answer"]).to_numpy(),
                "count": answers["count"].to_numpy(dtype=float),
                "sum_w": answers["sum_w"].to_numpy(dtype=float),
                "sum_w2": answers["sum_w2"].to_numpy(dtype=float),
            }
        )
        self._by_question = {q: part for q, part in self._answers.groupby("question", sort=False)}

    # ------------------------------------------------------------------ helpers
    def domains(self, by: str | Sequence[str] | None) -> tuple[np.ndarray, pd.DataFrame]:
        """Domain code of every respondent group and the table of domain key values."""
        by = as_columns(by)
        unknown = [c for c in by if c not in self.statistics.keys]
        if unknown:
            raise AnalysisError(f"columns {', '.join(unknown)} are not keys of the statistics")
        return _codes(self._groups, by)

    def _question_sums(
        self, question: str, valid_values: Sequence[str], satisfied_values: Sequence[str]
    ) -> tuple[np.ndarray, ...]:
        size = len(self._groups)
        part = self._by_question.get(question)
        if part is None:
            zero = np.zeros(size)
            return zero, zero, zero, zero, zero
        valid = part["answer"].isin([str(v) for v in valid_values]).to_numpy()
        satisfied = valid & part["answer"].isin([str(v) for v in satisfied_values]).to_numpy()
        rows = part["row"].to_numpy()
        w1, w2, count = (part[c].to_numpy() for c in ("sum_w", "sum_w2", "count"))

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
        c = self._c[used]
        variance = np.zeros(n_domains)
        width = max(self.n_cells, self.n_strata, 1)
        chunk = max(1, _CHUNK_CELLS // width)
        order = np.argsort(k, kind="stable")
        k, c, h, g, t1, t2, t3 = (x[order] for x in (k, c, h, g, t1, t2, t3))
        bounds = np.searchsorted(k, np.arange(0, n_domains + chunk, chunk))
        for start_index, start in enumerate(range(0, n_domains, chunk)):
            lo, hi = bounds[start_index], bounds[start_index + 1]
            m = min(chunk, n_domains - start)
            if lo == hi:
                continue
            kl = k[lo:hi] - start
            u = np.bincount(
                kl * self.n_cells + c[lo:hi], weights=t1[lo:hi], minlength=m * self.n_cells
            ).reshape(m, self.n_cells)
            if isinstance(self.weighting, PostStratification):
                fit = u / self._cell_d1[None, :]
            else:
                beta = np.asarray(self._x.T @ u.T).T @ self._xtdx_pinv
                fit = np.asarray(self._x @ beta.T).T
            fit_r = fit[kl, c[lo:hi]]
            cells_h = kl * self.n_strata + h[lo:hi]
            s1 = np.bincount(cells_h, weights=g[lo:hi] * t1[lo:hi], minlength=m * self.n_strata)
            s2 = np.bincount(
                cells_h,
                weights=g[lo:hi] ** 2 * (t2[lo:hi] - 2 * fit_r * t3[lo:hi]),
                minlength=m * self.n_strata,
            )
            s1 = s1.reshape(m, self.n_strata) - np.asarray(self._a1.T @ fit.T).T
            s2 = s2.reshape(m, self.n_strata) + np.asarray(self._a2.T @ (fit * fit).T).T
            contribution = np.where(
                self.lonely_strata[None, :],
                s2,
                self._scale[None, :] * (s2 - s1 * s1 / n_h[None, :]),
            )
            variance[start : start + m] = contribution.sum(axis=1)
        return variance

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
        estimates = []
        for i in range(n_domains):
            if n[i] == 0:
                estimates.append(
                    make_estimate(p=np.nan, variance=np.nan, n=0, n_eff=0.0, df=0, ci=ci, level=level)
                )
                continue
            estimates.append(
                make_estimate(
                    p=float(p[i]),
                    variance=float(variance[i]),
                    n=int(n[i]),
                    n_eff=float(big_b[i] ** 2 / w2[i]),
                    df=int(n[i] - strata_in[i]),
                    lonely=bool(lonely[i]),
                    ci=ci,
                    level=level,
                )
            )
        return labels.reset_index(drop=True), estimates
