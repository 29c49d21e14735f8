"""Result objects returned by the estimators."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["Estimate", "FLAG_DF0", "FLAG_LONELY", "FLAG_N0", "FLAG_NEFF", "FLAG_WIDTH"]

#: The reasons a figure is flagged (statistics.md §4); several are joined with ``;``.
FLAG_N0 = "n=0"
FLAG_DF0 = "df=0"
FLAG_NEFF = "n_eff<30"
FLAG_WIDTH = "ci_width>0.30"
FLAG_LONELY = "n_h=1"


@dataclass(frozen=True)
class Estimate:
    """A weighted proportion with its uncertainty.

    Attributes
    ----------
    estimate : float
        p̂ = A/B, in [0, 1]; NaN when the domain holds no valid answer.
    se : float
        Taylor-linearised standard error, sqrt(V̂).
    ci_low, ci_high : float
        Confidence interval of the requested method; NaN where undefined (``df=0``, or the
        logit interval at p̂ of 0 or 1).
    n : int
        Unweighted count of valid answers in the domain.
    n_eff : float
        Kish's effective sample size (Σw)²/Σw² over the valid answers in the domain.
    deff : float
        Design effect V̂ / (p̂(1−p̂)/(n−1)) (R ``deff = "replace"``); NaN at p̂ of 0 or 1.
    df : int
        Design degrees of freedom: respondents with a valid answer in the domain minus the
        strata they fall in (R ``degf`` of the domain subset).
    flag : str
        Blank, or the reasons the figure is unreliable joined with ``;``: ``n=0``, ``df=0``,
        ``n_eff<30``, ``ci_width>0.30`` (Korn–Graubard width, whatever the reported method),
        ``n_h=1`` (a stratum with a single respondent contributes to the variance).
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    n_eff: float
    deff: float
    df: int
    flag: str = ""

    @property
    def variance(self) -> float:
        """V̂ = se²."""
        return self.se * self.se

    @property
    def flags(self) -> tuple[str, ...]:
        """The reasons of :attr:`flag` as a tuple."""
        return tuple(part for part in self.flag.split(";") if part)

    @property
    def reliable(self) -> bool:
        """True when no flag is set."""
        return not self.flag

    def as_dict(self) -> dict:
        """The fields as a plain dict (NaN kept as NaN)."""
        return asdict(self)

    def __post_init__(self) -> None:
        if not (math.isnan(self.estimate) or 0.0 <= self.estimate <= 1.0):
            raise ValueError(f"estimate {self.estimate!r} is not a proportion")
