"""Quality flags for survey responses: rules that make ballot stuffing visible.

Pure functions over plain records, used the same way by the web app (at submission time, with
the centre's recent responses read from the database) and by the stuffing simulation in
``bench/simulate_stuffing.py``. A flag never refuses a response; it marks it for review, and every
index can be computed with and without flagged responses.

Each rule returns a stable ``code`` and a ``reason`` that a reviewer can read.

Rules on one response (``flags_for``)
-------------------------------------
``too_fast``
    completed faster than anyone can read the form: ``Rules.plausible_seconds``.
``straight_line_fast``
    every satisfaction answer the same (at least ``straight_line_min_answers`` of them, so not on
    the six-question kiosk form, where identical answers mean little) *and* completed in less
    than ``Rules.hurried_seconds``, too fast to have read the questions. Straight-lining alone
    never flags: many honest people answer 5 everywhere.
``off_hours``
    submitted from the centre's QR code outside its opening hours (with a grace period).
``device_repeat``
    more than ``device_max`` responses from one device within the recent window (any centre, any
    link); all of them are flagged.
``centre_burst``
    a burst of responses that rated every question 5 (or every question 4 or 5) at one centre,
    tested against that centre's own baseline (``CentreBaseline``): their rate in a window must
    be improbably high against the centre's usual rate (allowing for busy hours) *and* their share
    of the window's responses improbably high against its usual share (``Rules``). The members
    of the burst that rated that way are flagged, including earlier ones (retroactive flags).
``network_burst``
    the same test restricted to the responses from one network (a centre's Wi-Fi or a phone's
    mobile address), whose usual rate is at most ``network_share`` of the centre's.

Rules on a centre and a period (``period_flags``)
--------------------------------------------------
``centre_top_share``, ``centre_satisfied_share``
    over a day or a month, the share of responses that rated every question 5 (or 4–5) is
    improbably high against the centre's baseline. For analysts: it points at a centre, not at
    responses, and it is what reveals a slow drip that no window of a few hours can show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Callable, Hashable, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np
from scipy import special

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

__all__ = [
    "CentreBaseline",
    "Flag",
    "OpeningHours",
    "PeriodFlag",
    "Rules",
    "Submission",
    "baseline_period",
    "flags_for",
    "is_satisfied",
    "is_top_rated",
    "period_flags",
]


@dataclass(frozen=True)
class Submission:
    """What the rules may know about one response. Nothing here identifies a person.

    ``device`` and ``network`` are keyed hashes (the app never stores raw identifiers); ``via`` is
    ``poster`` for the QR link at the centre, ``dossier`` for a one-time link sent afterwards.
    ``scale_answers`` are the codes of the satisfaction-scale answers given (``1``–``5``; "không
    áp dụng" and blanks left out). ``submitted_at`` is an aware datetime.
    """

    key: Hashable
    center: str
    submitted_at: datetime
    seconds: float | None
    scale_answers: tuple[str, ...]
    answer_count: int
    device: str | None = None
    network: str | None = None
    via: str = "poster"


@dataclass(frozen=True)
class Flag:
    key: Hashable
    code: str
    reason: str


@dataclass(frozen=True)
class PeriodFlag:
    """A flag on a centre over a period (``start`` inclusive, ``end`` exclusive)."""

    center: str
    start: datetime
    end: datetime
    code: str
    reason: str


@dataclass(frozen=True)
class OpeningHours:
    """When a centre receives citizens (Vietnam time); weekday 0 is Monday."""

    days: dict[int, tuple[time, time]] = field(
        default_factory=lambda: {d: (time(7, 0), time(17, 30)) for d in range(5)} | {5: (time(7, 0), time(11, 30))}
    )
    grace: timedelta = timedelta(minutes=60)

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(VIETNAM)
        hours = self.days.get(local.weekday())
        if hours is None:
            return False
        opening = datetime.combine(local.date(), hours[0], VIETNAM) - self.grace
        closing = datetime.combine(local.date(), hours[1], VIETNAM) + self.grace
        return opening <= local <= closing

    def hours_between(self, start: datetime, end: datetime) -> float:
        """Opening hours (without the grace period) between two aware instants."""
        start, end = start.astimezone(VIETNAM), end.astimezone(VIETNAM)
        total = 0.0
        day = start.date()
        while day <= end.date():
            hours = self.days.get(day.weekday())
            if hours is not None:
                opening = max(datetime.combine(day, hours[0], VIETNAM), start)
                closing = min(datetime.combine(day, hours[1], VIETNAM), end)
                if closing > opening:
                    total += (closing - opening).total_seconds() / 3600
            day += timedelta(days=1)
        return total


@dataclass(frozen=True)
class CentreBaseline:
    """A centre's usual traffic over a reference period, from counts the app queries cheaply.

    Count the centre's responses received through the poster link (``via = 'poster'``, or no
    linkage row) in the reference period (``baseline_period``: the 28 Vietnam days before the day
    of the submission), leaving out responses that carry a flag unless an analyst reviewed them
    with ``include``. ``top_rated``: those whose every satisfaction-scale answer is ``5``;
    ``satisfied``: those whose every satisfaction-scale answer is ``4`` or ``5`` (so it includes
    ``top_rated``). Responses with no scale answer count in ``responses`` only.
    ``opening_hours`` is ``OpeningHours.hours_between`` over the same period.
    """

    responses: int
    top_rated: int
    satisfied: int
    opening_hours: float

    def __post_init__(self) -> None:
        if not 0 <= self.top_rated <= self.satisfied <= self.responses:
            raise ValueError("baseline counts must satisfy 0 <= top_rated <= satisfied <= responses")
        if not self.opening_hours >= 0:
            raise ValueError("baseline opening_hours must be >= 0")


def baseline_period(moment: datetime, days: int = 28) -> tuple[datetime, datetime]:
    """The reference period of ``CentreBaseline`` for a submission at ``moment``.

    From Vietnam midnight ``days`` days before the submission's day to Vietnam midnight that
    day (end exclusive), so that one baseline serves a centre for a whole day.
    """
    today = moment.astimezone(VIETNAM).date()
    end = datetime.combine(today, time(), VIETNAM)
    return end - timedelta(days=days), end


_TOP = frozenset({"5"})
_SATISFIED = frozenset({"4", "5"})


def is_top_rated(submission: Submission) -> bool:
    """Every satisfaction-scale answer is 5 (and there is at least one)."""
    return bool(submission.scale_answers) and not set(submission.scale_answers) - _TOP


def is_satisfied(submission: Submission) -> bool:
    """Every satisfaction-scale answer is 4 or 5 (and there is at least one)."""
    return bool(submission.scale_answers) and not set(submission.scale_answers) - _SATISFIED


@dataclass(frozen=True)
class _RatingClass:
    name: str
    wording: str
    member: Callable[[Submission], bool]
    count: Callable[[CentreBaseline], int]


_CLASSES = (
    _RatingClass("top", "rated every question 5", is_top_rated, lambda b: b.top_rated),
    _RatingClass("satisfied", "rated every question 4 or 5", is_satisfied, lambda b: b.satisfied),
)


@dataclass(frozen=True)
class Rules:
    """Thresholds of the flag rules; the defaults are those evaluated by the simulation.

    Burst tests compare a window (the responses of the last ``burst_windows`` at the centre, or
    from one network) with the centre's baseline, by two exact conditional tests, and flag only
    when both p-values are below their alphas:

    - rate: the window's count ``k`` of responses in the rating class over ``window hours ×
      peak_factor`` against the baseline's count ``K`` over its opening hours (at least
      ``min_hourly_rate`` per hour): ``P(Binomial(k + K, e / (e + E)) >= k)``, the comparison
      of two Poisson rates. ``peak_factor`` allows for busy hours; for one network the window's
      exposure is further multiplied by ``network_share``, the largest share of a centre's
      traffic one network (its Wi-Fi) is expected to carry.
    - share: the window's ``k`` of ``n`` against the baseline's ``K`` of ``N`` (Fisher's exact
      test, one-sided).

    The rate test alone would fire on an honest busy morning, the share test alone on a quiet
    hour's few enthusiasts.

    ``straight_line_fast`` needs less than ``hurried_base_seconds`` plus
    ``hurried_seconds_per_scale_answer`` per satisfaction answer (43 s for 22): each question is
    a sentence of 10–20 words, and 1.5 s is skimming it. ``bench/STUFFING.md`` shows how the
    honest false-positive rate of this and of ``too_fast`` depends on completion times that are
    still to be measured.
    """

    base_seconds: float = 5.0
    seconds_per_answer: float = 1.2
    opening_hours: OpeningHours = field(default_factory=OpeningHours)
    opening_hours_by_center: Mapping[str, OpeningHours] = field(default_factory=dict)
    straight_line_min_answers: int = 10
    hurried_base_seconds: float = 10.0
    hurried_seconds_per_scale_answer: float = 1.5
    device_max: int = 2
    burst_windows: tuple[timedelta, ...] = (timedelta(minutes=30), timedelta(hours=1), timedelta(hours=3))
    burst_min_count: int = 5
    burst_alpha: float = 1e-6
    burst_share_alpha: float = 1e-5
    peak_factor: float = 2.0
    min_hourly_rate: float = 0.5
    network_share: float = 0.5
    fallback_baseline: CentreBaseline = field(
        default_factory=lambda: CentreBaseline(responses=1200, top_rated=600, satisfied=960, opening_hours=200.0)
    )
    min_baseline_responses: int = 30
    period_alpha: float = 1e-3
    period_min_count: int = 5

    def plausible_seconds(self, answer_count: int) -> float:
        return self.base_seconds + self.seconds_per_answer * answer_count

    def hurried_seconds(self, scale_answer_count: int) -> float:
        """Below this, a straight-lined response is flagged (``straight_line_fast``).

        Counted per satisfaction answer, not per answer: a straight-liner who skips the optional
        questions saves little time, and should not lower the bar by doing so.
        """
        return self.hurried_base_seconds + self.hurried_seconds_per_scale_answer * scale_answer_count

    def hours_for(self, center: str) -> OpeningHours:
        return self.opening_hours_by_center.get(center, self.opening_hours)


def _rate_tail(k: int, exposure: float, base_count: float, base_exposure: float) -> float:
    """One-sided p-value that a rate of ``k`` per ``exposure`` exceeds ``base_count`` per ``base_exposure``.

    Conditional test of two Poisson rates: given ``k + K`` events, ``k`` is binomial with
    probability ``e / (e + E)`` under equal rates; ``P(X >= k) = I_q(k, K + 1)``.
    """
    if k <= 0:
        return 1.0
    if base_exposure <= 0:
        return 1.0
    q = exposure / (exposure + base_exposure)
    return float(special.betainc(k, base_count + 1, q))


def _log_choose(n, k):
    return special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)


def _share_tail(k: int, n: int, base_k: int, base_n: int) -> float:
    """Fisher's exact one-sided p-value that ``k`` of ``n`` is a larger share than ``K`` of ``N``.

    ``P(X >= k)`` for X hypergeometric: ``n`` drawn from ``n + N`` of which ``k + K`` are marked.
    """
    if k <= 0:
        return 1.0
    total, marked = n + base_n, k + base_k
    x = np.arange(k, min(n, marked) + 1)
    log_p = _log_choose(marked, x) + _log_choose(total - marked, n - x) - _log_choose(total, n)
    return float(min(1.0, np.exp(log_p).sum()))


def _p(value: float) -> str:
    return f"p = {value:.1g}" if value >= 1e-12 else "p < 1e-12"


def _minutes(window: timedelta) -> str:
    minutes = round(window.total_seconds() / 60)
    return f"{minutes} minutes" if minutes < 120 or minutes % 60 else f"{minutes // 60} hours"


def _local(moment: datetime) -> str:
    return f"{moment.astimezone(VIETNAM):%H:%M on %d/%m}"


def _burst(
    new: Submission,
    group: list[Submission],
    kind: _RatingClass,
    baseline: CentreBaseline,
    rules: Rules,
    rate_scale: float,
) -> tuple[timedelta, list[Submission], int, float] | None:
    """The most significant window in which ``group`` (oldest first, ending with ``new``) bursts."""
    found = None
    base_k = kind.count(baseline)
    base_hours = baseline.opening_hours
    floor_k = max(base_k, rules.min_hourly_rate * base_hours)
    for window in rules.burst_windows:
        since = new.submitted_at - window
        inside = [s for s in group if s.submitted_at > since]
        members = [s for s in inside if kind.member(s)]
        k = len(members)
        if k < rules.burst_min_count:
            continue
        exposure = window.total_seconds() / 3600 * rules.peak_factor * rate_scale
        p_rate = _rate_tail(k, exposure, floor_k, base_hours)
        if p_rate >= rules.burst_alpha:
            continue
        p_share = _share_tail(k, len(inside), base_k, baseline.responses)
        if p_share >= rules.burst_share_alpha:
            continue
        p = max(p_rate, p_share)
        if found is None or p < found[3]:
            found = (window, members, len(inside), p)
    return found


def _usual_text(kind: _RatingClass, baseline: CentreBaseline, assumed: bool) -> str:
    count = kind.count(baseline)
    hourly = count / baseline.opening_hours if baseline.opening_hours else 0.0
    share = count / baseline.responses if baseline.responses else 0.0
    if assumed:
        return f"too little history here, so assumed at most {hourly:.1f} per opening hour and {share:.0%} of responses"
    return f"usually {hourly:.1f} per opening hour and {share:.0%} of responses (baseline: {baseline.responses})"


def flags_for(
    new: Submission,
    recent: Sequence[Submission],
    rules: Rules = Rules(),
    baseline: CentreBaseline | None = None,
) -> list[Flag]:
    """Flags raised by ``new``: on ``new`` itself and possibly on earlier ``recent`` responses.

    ``recent`` holds the responses of the last hours at the same centre, and those from the same
    device or network at any centre, oldest first, not including ``new``. ``baseline`` describes
    the centre of ``new`` (see ``CentreBaseline``); without it, or with fewer than
    ``rules.min_baseline_responses`` responses in it, the burst rules assume
    ``rules.fallback_baseline``, a busy centre, and so catch only gross bursts. A flag on an
    earlier response may repeat one raised before; the caller keeps the first.
    """
    flags = []
    if new.seconds is not None:
        minimum = rules.plausible_seconds(new.answer_count)
        if new.seconds < minimum:
            flags.append(Flag(new.key, "too_fast", f"completed in {new.seconds:.0f} s; plausible minimum {minimum:.0f} s"))
        answers = new.scale_answers
        hurried = rules.hurried_seconds(len(answers))
        if len(answers) >= rules.straight_line_min_answers and len(set(answers)) == 1 and new.seconds < hurried:
            flags.append(
                Flag(
                    new.key,
                    "straight_line_fast",
                    f"all {len(answers)} satisfaction answers are {answers[0]} and the form took {new.seconds:.0f} s; "
                    f"reading them takes at least {hurried:.0f} s",
                )
            )
    if new.via == "poster" and not rules.hours_for(new.center).contains(new.submitted_at):
        local = new.submitted_at.astimezone(VIETNAM)
        flags.append(Flag(new.key, "off_hours", f"submitted at {local:%H:%M %a} from the centre's QR code, outside opening hours"))
    if new.device is not None:
        same_device = [s for s in recent if s.device == new.device] + [new]
        if len(same_device) > rules.device_max:
            centres = len({s.center for s in same_device})
            span = new.submitted_at - same_device[0].submitted_at
            reason = (
                f"{len(same_device)} responses from one device within {_minutes(span)} "
                f"(at {centres} centre{'s' if centres > 1 else ''}); at most {rules.device_max} expected"
            )
            flags.extend(Flag(s.key, "device_repeat", reason) for s in same_device)
    if new.via == "poster":
        flags.extend(_burst_flags(new, recent, rules, baseline))
    return flags


def _burst_flags(new: Submission, recent: Sequence[Submission], rules: Rules, baseline: CentreBaseline | None) -> list[Flag]:
    flags: list[Flag] = []
    assumed = baseline is None or baseline.responses < rules.min_baseline_responses or baseline.opening_hours <= 0
    if assumed:
        baseline = rules.fallback_baseline
    posters = [s for s in recent if s.via == "poster"]
    at_centre = [s for s in posters if s.center == new.center] + [new]
    same_network = [s for s in posters if new.network is not None and s.network == new.network] + [new]
    for kind in _CLASSES:
        if not kind.member(new):
            continue
        burst = _burst(new, at_centre, kind, baseline, rules, 1.0)
        if burst is not None:
            window, members, total, p = burst
            reason = (
                f"{len(members)} of {total} responses at this centre in the {_minutes(window)} to {_local(new.submitted_at)} "
                f"{kind.wording}; {_usual_text(kind, baseline, assumed)}; {_p(p)}"
            )
            flags.extend(Flag(s.key, "centre_burst", reason) for s in members)
        if new.network is None:
            continue
        burst = _burst(new, same_network, kind, baseline, rules, rules.network_share)
        if burst is not None:
            window, members, total, p = burst
            reason = (
                f"{len(members)} of {total} responses from one network in the {_minutes(window)} to "
                f"{_local(new.submitted_at)} {kind.wording}; at this centre such responses are "
                f"{_usual_text(kind, baseline, assumed)}; {_p(p)}"
            )
            flags.extend(Flag(s.key, "network_burst", reason) for s in members)
    return flags


def period_flags(
    center: str,
    submissions: Sequence[Submission],
    start: datetime,
    end: datetime,
    baseline: CentreBaseline,
    rules: Rules = Rules(),
) -> list[PeriodFlag]:
    """Flags on a centre whose share of top ratings over a period is improbably high.

    ``submissions`` are the centre's responses in ``[start, end)`` (others are ignored); only
    those through the poster link count, as in the baseline. The test is the share test of the
    burst rules (Fisher's exact, one-sided) over the whole period against the baseline, with
    ``rules.period_alpha``. Meant for analysts' reports (a day, a week, a month): it shows a slow
    drip that no window of a few hours can, but it cannot tell which responses are the drip.
    """
    inside = [s for s in submissions if s.center == center and s.via == "poster" and start <= s.submitted_at < end]
    flags = []
    for kind in _CLASSES:
        k = sum(1 for s in inside if kind.member(s))
        if k < rules.period_min_count:
            continue
        p = _share_tail(k, len(inside), kind.count(baseline), baseline.responses)
        if p < rules.period_alpha:
            usual = kind.count(baseline) / max(baseline.responses, 1)
            flags.append(
                PeriodFlag(
                    center,
                    start,
                    end,
                    f"centre_{kind.name}_share",
                    f"{k} of {len(inside)} responses ({k / len(inside):.0%}) from {start.astimezone(VIETNAM):%d/%m} "
                    f"to {(end - timedelta(microseconds=1)).astimezone(VIETNAM):%d/%m} {kind.wording}; usually "
                    f"{usual:.0%} (baseline: {baseline.responses} responses); {_p(p)}",
                )
            )
    return flags
