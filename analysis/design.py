"""The survey design, declared once and passed to every per-respondent estimator.

A :class:`SurveyDesign` is R's ``svydesign(ids = ~1, strata = ~s, weights = ~w, data = d)``
(each respondent its own primary sampling unit, sampled with replacement), optionally followed by
``postStratify`` or ``calibrate(calfun = "raking")`` (see :mod:`analysis.weighting`), with
``options(survey.lonely.psu = "adjust")`` as in R ``survey`` 4.1.

Variance of a linearised total (statistics.md §2; R ``svyrecvar``/``onestage``)
    Given residuals e_i (the influence values of the estimator, after the calibration
    correction), with n_h the number of respondents of stratum h in the whole file:

        V̂ = Σ_{h: n_h > 1} n_h/(n_h − 1) · Σ_{i∈h} (e_i − ē_h)²  +  Σ_{h: n_h = 1} e_h²

    A single-respondent stratum contributes its value squared, uncentred, with factor 1 (R 4.1's
    ``"adjust"``).

Calibration residuals (R ``svyrecvar`` with ``postStrata``)
    For influence values per unit weight u_i (so that the uncalibrated residual is w_i·u_i):
    post-stratification e_i = w_i (u_i − ū_c), ū_c the base-weighted mean of u in cell c over all
    its respondents; raking e_i = w_i (u_i − x_i'B̂), B̂ the base-weighted least-squares fit of u
    on the margin dummies x (R ``calibrate``'s ``qr.resid``; solved on the cells, where x is
    constant).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.weighting import PostStratification, Raking, calibration_factors

__all__ = ["SurveyDesign", "as_columns"]


def as_columns(columns: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise ``None``, ``"a,b"`` or ``["a", "b"]`` to a tuple of column names."""
    if columns is None:
        return ()
    if isinstance(columns, str):
        return tuple(part.strip() for part in columns.split(",") if part.strip())
    return tuple(columns)


def _key_strings(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    out = {}
    for column in columns:
        series = frame[column]
        out[column] = series.astype(object).where(series.notna(), "").astype(str).str.strip()
    return pd.DataFrame(out, index=frame.index)


def _group_codes(keys: pd.DataFrame) -> np.ndarray:
    if keys.shape[1] == 0:
        return np.zeros(len(keys), dtype=np.int64)
    return keys.groupby(list(keys.columns), sort=True, dropna=False).ngroup().to_numpy(np.int64)


class SurveyDesign:
    """A stratified, weighted, optionally calibrated design over per-respondent data.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent (the whole file: domains are estimated inside it).
    strata : str or sequence of str, optional
        Stratum columns (crossed); default one stratum.
    weights : str or array-like, optional
        Base weights d_i (a column name or values, all finite and > 0); default 1.
    weighting : PostStratification or Raking, optional
        Calibration to administrative totals.
    source : str, optional
        File name used in error messages.
    rows : array-like, optional
        Row number of each respondent in ``source`` (header = row 1); default position + 2.

    Attributes
    ----------
    weights : numpy.ndarray
        Final weights w_i = d_i·g_{c(i)}.
    base_weights : numpy.ndarray
        d_i.
    strata : numpy.ndarray
        Stratum code of each respondent (0 … H−1).
    stratum_sizes : numpy.ndarray
        n_h of every stratum code.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        *,
        strata: str | Sequence[str] | None = None,
        weights: str | Sequence[float] | np.ndarray | None = None,
        weighting: PostStratification | Raking | None = None,
        source: str | None = None,
        rows: Sequence[int] | None = None,
    ) -> None:
        self.data = data
        self.source = source
        n = len(data)
        self.rows = np.arange(n) + 2 if rows is None else np.asarray(rows, dtype=np.int64)
        self.strata_columns = as_columns(strata)
        for column in self.strata_columns:
            if column not in data.columns:
                raise DataError(f"no stratum column {column!r}", file=source, row=1, column=column)
        self.strata = _group_codes(_key_strings(data, self.strata_columns))
        self.stratum_sizes = np.bincount(self.strata, minlength=int(self.strata.max(initial=-1)) + 1)
        if weights is None:
            base = np.ones(n)
        elif isinstance(weights, str):
            if weights not in data.columns:
                raise DataError(f"no weight column {weights!r}", file=source, row=1, column=weights)
            base = pd.to_numeric(data[weights], errors="coerce").to_numpy(dtype=float)
        else:
            base = np.asarray(weights, dtype=float)
            if base.shape != (n,):
                raise ValueError(f"weights must have one value per row ({n}), got {base.shape}")
        bad = ~np.isfinite(base) | (base <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                "weight is not a finite number > 0",
                file=source,
                row=int(self.rows[i]),
                column=weights if isinstance(weights, str) else "weight",
            )
        self.base_weights = base
        self.weighting = weighting
        self.cells = None
        self._cell_x = None
        if weighting is None:
            self.weights = base.copy()
            return
        keys = weighting.keys
        for column in keys:
            if column not in data.columns:
                raise DataError(
                    f"no column {column!r} named by the totals", file=source, row=1, column=column
                )
        key_frame = _key_strings(data, keys)
        self.cells = _group_codes(key_frame)
        n_cells = int(self.cells.max(initial=-1)) + 1
        first = np.unique(self.cells, return_index=True)[1]  # first respondent of every cell
        cell_table = key_frame.iloc[first].reset_index(drop=True)
        d1 = np.bincount(self.cells, weights=base, minlength=n_cells)
        factors = calibration_factors(
            cell_table,
            d1,
            weighting,
            locate=lambda i: (source, int(self.rows[first[i]])),
        )
        self.weights = base * factors[self.cells]
        self._cell_d1 = d1
        if isinstance(weighting, Raking):
            # The margin dummies are constant within a cell (a combination of the margins'
            # keys), so the base-weighted regression on respondents is the D1-weighted one on
            # cells: same coefficients, without an n × levels matrix.
            blocks = []
            for margin in weighting.margins:
                codes = _group_codes(cell_table[list(margin.keys)])
                blocks.append(np.eye(int(codes.max()) + 1)[codes])
            self._cell_x = np.hstack(blocks)

    @property
    def n(self) -> int:
        """Number of respondents (rows)."""
        return len(self.data)

    @property
    def lonely_strata(self) -> np.ndarray:
        """Boolean mask over stratum codes: strata with a single respondent."""
        return self.stratum_sizes == 1

    def residuals(self, u: np.ndarray) -> np.ndarray:
        """Calibration residuals e = w·u − correction for influence values per unit weight u.

        ``u`` has shape (n,) or (n, k).
        """
        u = np.asarray(u, dtype=float)
        w = self.weights if u.ndim == 1 else self.weights[:, None]
        if self.weighting is None:
            return w * u
        n_cells = len(self._cell_d1)
        if u.ndim == 1:
            cell_u = np.bincount(self.cells, weights=self.base_weights * u, minlength=n_cells)
        else:
            cell_u = np.column_stack(
                [
                    np.bincount(self.cells, weights=self.base_weights * u[:, j], minlength=n_cells)
                    for j in range(u.shape[1])
                ]
            )
        if isinstance(self.weighting, PostStratification):
            fit = cell_u / (self._cell_d1 if u.ndim == 1 else self._cell_d1[:, None])
        else:
            root = np.sqrt(self._cell_d1)
            scaled = cell_u / (root if u.ndim == 1 else root[:, None])
            coef, *_ = np.linalg.lstsq(self._cell_x * root[:, None], scaled, rcond=None)
            fit = self._cell_x @ coef
        return w * (u - fit[self.cells])

    def total_covariance(self, e: np.ndarray) -> np.ndarray:
        """V̂ of the column totals of ``e`` (n × k): the matrix form of :meth:`total_variance`,
        Σ_h n_h/(n_h − 1) Σ_{i∈h} (e_i − ē_h)(e_i − ē_h)' (lonely strata uncentred, factor 1)."""
        e = np.asarray(e, dtype=float)
        if e.ndim == 1:
            e = e[:, None]
        sizes = self.stratum_sizes.astype(float)
        sums = np.zeros((len(sizes), e.shape[1]))
        np.add.at(sums, self.strata, e)
        lonely = self.lonely_strata
        mean = np.where(lonely[:, None], 0.0, sums / sizes[:, None])
        centred = e - mean[self.strata]
        scale = np.where(lonely, 1.0, sizes / np.maximum(sizes - 1.0, 1.0))
        return centred.T @ (centred * scale[self.strata][:, None])

    def total_variance(self, e: np.ndarray) -> float:
        """V̂ of Σe: stratified with-replacement variance with lonely strata "adjust"."""
        e = np.asarray(e, dtype=float)
        sizes = self.stratum_sizes.astype(float)
        mean = np.bincount(self.strata, weights=e, minlength=len(sizes)) / sizes
        lonely = self.lonely_strata
        centred = np.where(lonely[self.strata], e, e - mean[self.strata])
        scale = np.where(lonely, 1.0, sizes / np.maximum(sizes - 1.0, 1.0))
        per_stratum = np.bincount(self.strata, weights=centred * centred, minlength=len(sizes))
        return float(np.sum(scale * per_stratum))
