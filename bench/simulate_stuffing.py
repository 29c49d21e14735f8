"""Simulate honest survey traffic and ballot stuffing; evaluate the flag rules of analysis.integrity.

Run from the repository root::

    .venv/bin/python bench/simulate_stuffing.py [--seed 2026] [--no-sensitivity] [--replicates N]

Honest traffic: 30 centres (28 on the full SIPAS form, 2 on the kiosk form) over a 28-day
warm-up (October 2026, the baselines' first period) and the evaluated month (November 2026,
no public holidays in either). Each centre has its own volume, satisfaction level, share of
all-5 straight-liners and share of citizens on its Wi-Fi. Injected stuffing (November only):

1. ``burst``: 40 all-5 responses from two phones (cookies cleared each time, so a new device
   hash every time; each phone on its own mobile network) within one hour at one centre.
2. ``drip``: 2–4 extra all-5 responses each working day from two staff phones on the centre's
   Wi-Fi (shared with honest citizens), answered quickly.
3. ``careful burst``: 20 responses in an afternoon from one phone on the centre's Wi-Fi,
   answers 4 or 5 varied item by item, taking 60–90 s each.
4. ``careful drip``: like the drip, with careful answers and 60–90 s.

Responses are fed in time order through ``flags_for`` as the web app does (``recent`` = the last
3 hours at the centre plus those with the same device or network hash at any centre; the
centre's baseline = its unflagged poster responses of the 28 previous days). The script prints
the share of injected and honest responses flagged, counts per flag, the SIPAS index (share of
4–5 on ``HL``) of the stuffed centres before stuffing, with it and after excluding flagged
responses, and centre-level period flags. All randomness comes from
``numpy.random.default_rng`` streams spawned from ``--seed``; nothing is written.
"""

from __future__ import annotations

import argparse
import math
import sys
import time as clock
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from analysis.integrity import (  # noqa: E402
    VIETNAM,
    CentreBaseline,
    OpeningHours,
    Rules,
    Submission,
    baseline_period,
    flags_for,
    is_satisfied,
    is_top_rated,
    period_flags,
)

WARM_UP = (date(2026, 10, 4), date(2026, 10, 31))
MONTH = (date(2026, 11, 1), date(2026, 11, 30))
RECENT = timedelta(hours=3)
HOURS = OpeningHours({d: (time(7, 30), time(17, 0)) for d in range(5)} | {5: (time(7, 30), time(11, 30))})
RULES = Rules(opening_hours=HOURS)

ELEMENTS = {  # element: (items, shift of the element's latent, as in app/services/demo.py)
    "TC": (("TC1", "TC2", "TC3"), 0.3),
    "TT": (("TT1", "TT2", "TT3", "TT4"), 0.0),
    "CC": (("CC1", "CC2", "CC3"), 0.2),
    "KQ": (("KQ1", "KQ2", "KQ3"), -0.1),
    "PA": (("PA1", "PA2", "PA3"), -0.4),
}
CUTS = np.array([-2.6, -1.7, -0.5, 1.7])
OPTIONAL_CHOICES = 10  # result_received, respondent_type, PH, TN, SL and five respondent questions
# Relative arrival intensity by half hour from 7:30 (19 slots to 17:00): a morning peak, a lunch
# break in which few people are served, a flatter afternoon.
SLOT_WEIGHTS = np.array([0.6, 1.4, 1.6, 1.6, 1.5, 1.3, 1.2, 1.0, 0.3, 0.1, 0.1, 0.1, 0.4, 1.0, 1.0, 0.9, 0.8, 0.7, 0.5])
WEEKDAY_FACTOR = {0: 1.25, 1: 1.05, 2: 1.0, 3: 1.0, 4: 0.9, 5: 0.4}


@dataclass(frozen=True)
class TimeModel:
    """Completion time = a motor floor per answer + a lognormal reading-and-thinking time."""

    floor_per_answer: float = 0.8
    full_median: float = 123.0  # reading time; the full form's total median is ~150 s
    kiosk_median: float = 30.0
    sigma: float = 0.6
    straight_line_factor: float = 0.6  # straight-liners read less


@dataclass(frozen=True)
class Stuffing:
    """Knobs of the injected scenarios, for the sensitivity runs."""

    drip_reading_median: float = 8.0  # seconds on top of 0.8 s per answer: staff know the form
    burst_minutes: float = 58.0
    burst_on_wifi: bool = False  # the two phones on the centre's Wi-Fi rather than mobile data


@dataclass(frozen=True)
class Centre:
    code: str
    kiosk: bool
    daily: float
    level: float
    straight5: float
    wifi: float


@dataclass
class Event:
    submission: Submission
    source: str  # "honest" or a scenario name
    hl: int | None
    form: str


@dataclass
class World:
    centres: list[Centre]
    events: list[Event]
    warm_up: list[Event]
    stuffed: dict[str, str] = field(default_factory=dict)  # scenario -> centre code


def vn(day: date, minutes: float) -> datetime:
    return datetime.combine(day, time(), VIETNAM) + timedelta(minutes=float(minutes))


def days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


class Ids:
    def __init__(self) -> None:
        self.counter = 0

    def __call__(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


def make_centres(rng: np.random.Generator) -> list[Centre]:
    centres = []
    for index in range(30):
        kiosk = index >= 28
        if index == 0:
            daily = 45.0  # the provincial centre
        else:
            daily = float(np.clip(rng.lognormal(math.log(10), 0.6), 2.5, 40))
        level = float(rng.normal(0.9, 0.5))
        straight5 = float(np.clip(0.30 + 0.25 * (level - 0.9), 0.10, 0.50))
        centres.append(Centre(f"c{index + 1:02d}", kiosk, daily, level, straight5, float(rng.uniform(0.10, 0.50))))
    return centres


def _slots(kiosk: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per satisfaction question (instrument order, HL apart): element, shift, is a content item."""
    element, shift, item = [], [], []
    for index, (items, element_shift) in enumerate(ELEMENTS.values()):
        for code_is_item in ([] if kiosk else [True] * len(items)) + [False]:
            element.append(index)
            shift.append(element_shift)
            item.append(code_is_item)
    return np.array(element), np.array(shift), np.array(item)


SLOTS = {kiosk: _slots(kiosk) for kiosk in (False, True)}
KQ, PA = 3, 4


def score(latent: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return 1 + ((latent + noise)[..., None] > CUTS).sum(axis=-1)


PENALTY_BY_TRIPS = np.array([0.0, 0.4, 0.9, 1.4])  # one, two, three, four or more trips
TRIPS_SHARES = np.array([0.60, 0.28, 0.08, 0.04])
ELEMENT_SHIFTS = np.array([shift for _, shift in ELEMENTS.values()])
CODES = np.array(["1", "2", "3", "4", "5"])


def honest_answers(rng: np.random.Generator, centre: Centre, person: np.ndarray, straight: np.ndarray):
    """Answers of ``len(person)`` respondents: [(scale answers, HL, answer count)].

    The model of ``app/services/demo.py``: the centre's level plus a personal leniency
    (``person``), fewer trips happier, element latents around the person, items around their
    element, HL following the elements; feedback items mostly not applicable, result items too
    when no result was received; 3% of optional items left blank. ``straight`` is ``"5"``,
    ``"4"`` or ``""`` per respondent: straight-liners give that answer to every question.
    """
    size = len(person)
    element, _, item = SLOTS[centre.kiosk]
    n = len(element)
    latent = centre.level + person - PENALTY_BY_TRIPS[rng.choice(4, size=size, p=TRIPS_SHARES)]
    received = rng.random(size) < 0.75
    feedback = rng.random(size) < 0.3
    element_latent = latent[:, None] + ELEMENT_SHIFTS[None, :] + rng.normal(0, 0.5, (size, 5))
    u = rng.random((2, size, n))
    inapplicable = ((element == KQ)[None, :] & ~received[:, None]) | ((element == PA)[None, :] & ~feedback[:, None])
    not_applicable = inapplicable & (u[0] < 0.9)
    blank = item[None, :] & ~not_applicable & (u[1] < 0.03)
    scores = score(element_latent[:, element] + rng.normal(0, 0.4, (size, n)), rng.normal(0, 0.9, (size, n)))
    hl = score(element_latent.mean(axis=1) + 0.1, rng.normal(0, 0.9, size))
    answered = ~not_applicable & ~blank
    if centre.kiosk:
        count = n + 1 - blank.sum(axis=1)
    else:
        count = 2 + n + 1 - blank.sum(axis=1)  # field and channel are required
        count += (rng.random((size, OPTIONAL_CHOICES)) < 0.88).sum(axis=1)
        count += np.where(rng.random(size) < 0.7, rng.choice([1, 1, 2, 3], size=size), 0)  # UT, several choices
        count += rng.random(size) < 0.08  # a comment
    out = []
    for r in range(size):
        if straight[r]:
            out.append(((straight[r],) * (int(answered[r].sum()) + 1), int(straight[r]), int(count[r])))
        else:
            out.append((tuple(CODES[scores[r][answered[r]] - 1]) + (str(hl[r]),), int(hl[r]), int(count[r])))
    return out


@dataclass(frozen=True)
class Respondent:
    """An honest response before its completion time, which depends on the ``TimeModel``."""

    center: str
    kiosk: bool
    opened: datetime | None  # poster: when the form was opened at the centre
    delay: float  # poster: minutes between finishing and sending (answered later, elsewhere)
    sent: datetime | None  # dossier link: when it was sent
    z: float  # standard normal deviate of the completion time
    answers: tuple[str, ...]
    hl: int
    count: int
    straight: bool
    device: str
    network: str
    via: str


def styles(rng: np.random.Generator, centre: Centre, size: int) -> np.ndarray:
    u = rng.random(size)
    return np.where(u < centre.straight5, "5", np.where(u < centre.straight5 + 0.04, "4", ""))


def honest_respondents(rng: np.random.Generator, centres: list[Centre], first: date, last: date) -> list[Respondent]:
    """Honest traffic: visits at the centres (some in groups), and one-time dossier links."""
    ids = Ids()
    people = []
    slot_p = SLOT_WEIGHTS / SLOT_WEIGHTS.sum()
    cgnat = 400  # shared public addresses of the mobile carriers in the province, per day

    def mobile(day: date) -> str:
        if rng.random() < 0.2:
            return f"cgnat-{day}-{int(rng.integers(cgnat))}"
        return ids("m")

    for day in days(first, last):
        weekday = day.weekday()
        if weekday == 6:
            continue
        slots = 8 if weekday == 5 else len(SLOT_WEIGHTS)
        p = slot_p[:slots] / slot_p[:slots].sum()
        for centre in centres:
            day_mean = centre.daily * WEEKDAY_FACTOR[weekday] * rng.gamma(6.0, 1 / 6.0)
            visits = int(rng.poisson(day_mean * 0.9 / 1.1))  # groups bring ~10% more respondents
            sizes = np.where(rng.random(visits) < 0.06, rng.integers(2, 5, size=visits), 1)
            visit = np.repeat(np.arange(visits), sizes)
            first_of_visit = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int) if visits else np.zeros(0, int)
            leader = np.zeros(len(visit), bool)
            leader[first_of_visit] = True
            person = rng.normal(0, 0.7, visits)[visit] + rng.normal(0, 0.4, len(visit))
            style = styles(rng, centre, len(visit))
            copy = ~leader & (rng.random(len(visit)) < 0.6)  # companions often answer like the first
            style[copy] = style[first_of_visit[visit]][copy]
            arrival = 450 + 30 * (rng.choice(slots, size=visits, p=p) + rng.random(visits))
            opened = arrival[visit] + rng.uniform(0, 6, len(visit))
            on_wifi = (rng.random(visits) < centre.wifi)[visit] & (leader | (rng.random(len(visit)) < 0.8))
            late = rng.random(len(visit)) < 0.03
            delay = np.where(late, rng.exponential(120, len(visit)), 0.0)
            z = rng.normal(size=len(visit))
            wifi = f"wifi-{centre.code}-{day}"
            for r, (answers, hl, count) in enumerate(honest_answers(rng, centre, person, style)):
                network = wifi if on_wifi[r] and not late[r] else mobile(day)
                people.append(Respondent(
                    centre.code, centre.kiosk, vn(day, opened[r]), float(delay[r]), None, float(z[r]),
                    answers, hl, count, bool(style[r]), ids("d"), network, "poster",
                ))
            # One-time dossier links, answered at home in the evening or the next day; a few
            # people answer the links of two dossiers from one phone.
            links = int(rng.poisson(day_mean * 0.1))
            twins = rng.random(links) < 0.02
            size = links + int(twins.sum())
            style = styles(rng, centre, size)
            evening = rng.random(links) < 0.6
            minutes = np.where(evening, rng.uniform(18 * 60, 22.5 * 60, links), rng.uniform(7 * 60, 22 * 60, links))
            gap = rng.uniform(2, 30, links)
            z = rng.normal(size=size)
            drawn = honest_answers(rng, centre, rng.normal(0, 0.8, size), style)
            extra = links
            for r in range(links):
                sent = vn(day + timedelta(days=0 if evening[r] else 1), minutes[r])
                device, network = ids("d"), ids("home")
                rows = [(r, sent)] + ([(extra, sent + timedelta(minutes=float(gap[r])))] if twins[r] else [])
                extra += bool(twins[r])
                for index, moment in rows:
                    answers, hl, count = drawn[index]
                    people.append(Respondent(
                        centre.code, centre.kiosk, None, 0.0, moment, float(z[index]),
                        answers, hl, count, bool(style[index]), device, network, "dossier",
                    ))
    return people


def completion_seconds(model: TimeModel, kiosk: bool, count: int, straight: bool, z: float) -> float:
    median = model.kiosk_median if kiosk else model.full_median
    if straight:
        median *= model.straight_line_factor
    return model.floor_per_answer * count + median * math.exp(model.sigma * z)


def honest_events(people: list[Respondent], model: TimeModel, first: date, last: date) -> list[Event]:
    events = []
    for index, person in enumerate(people):
        seconds = completion_seconds(model, person.kiosk, person.count, person.straight, person.z)
        if person.via == "poster":
            submitted = person.opened + timedelta(seconds=seconds, minutes=person.delay)
        else:
            submitted = person.sent
        if not first <= submitted.astimezone(VIETNAM).date() <= last:
            continue
        sub = Submission(
            f"h{index}", person.center, submitted, seconds, person.answers, person.count,
            person.device, person.network, person.via,
        )
        events.append(Event(sub, "honest", person.hl, "kiosk" if person.kiosk else "full"))
    return events


def stuffer_count(rng: np.random.Generator, scale: int, optional_share: float) -> int:
    count = 2 + scale + int((rng.random(OPTIONAL_CHOICES) < optional_share).sum())
    return count + (int(rng.choice([1, 2])) if rng.random() < optional_share else 0)


def careful_answers(rng: np.random.Generator) -> tuple[tuple[str, ...], int]:
    answers = tuple("5" if rng.random() < 0.6 else "4" for _ in range(22))
    return answers, int(answers[-1])


def working_moment(rng: np.random.Generator, day: date) -> datetime:
    slots = 8 if day.weekday() == 5 else len(SLOT_WEIGHTS)
    minutes = 450 + rng.uniform(0, 30 * slots)
    while 690 <= minutes < 810:  # staff are at lunch too
        minutes = 450 + rng.uniform(0, 30 * slots)
    return vn(day, minutes)


def inject(rng: np.random.Generator, centres: list[Centre], knobs: Stuffing) -> tuple[list[Event], dict[str, str]]:
    """The stuffing scenarios of the module docstring."""
    ids = Ids()
    by_code = {c.code: c for c in centres}
    chosen = {"burst": "c06", "drip": "c09", "careful burst": "c12", "careful drip": "c15"}
    events = []

    def add(scenario, submitted, seconds, answers, hl, count, device, network):
        centre = by_code[chosen[scenario]]
        sub = Submission(ids("s"), centre.code, submitted, float(seconds), answers, count, device, network, "poster")
        events.append(Event(sub, scenario, hl, "full"))

    # 1. Two phones, 20 responses each, within an hour; cookies cleared after each response.
    day = date(2026, 11, 18)
    start = vn(day, 14 * 60 + 5) if knobs.burst_minutes <= 120 else vn(day, 7 * 60 + 45)
    for phone in range(2):
        network = f"wifi-{chosen['burst']}-{day}" if knobs.burst_on_wifi else f"burst-phone-{phone}"
        for minute in np.sort(rng.uniform(0, knobs.burst_minutes, size=20)):
            count = stuffer_count(rng, 22, 0.3)
            add("burst", start + timedelta(minutes=float(minute)), rng.uniform(35, 90), ("5",) * 22, 5, count,
                ids("sd"), network)
    # 2. Drip: two staff phones on the centre's Wi-Fi, all 5, quickly.
    for day in days(*MONTH):
        if day.weekday() == 6:
            continue
        n = int(rng.integers(2, 5)) if day.weekday() < 5 else int(rng.integers(0, 2))
        for _ in range(n):
            count = stuffer_count(rng, 22, 0.1)
            seconds = 0.8 * count + rng.lognormal(math.log(knobs.drip_reading_median), 0.5)
            add("drip", working_moment(rng, day), seconds, ("5",) * 22, 5, count, ids("sd"), f"wifi-{chosen['drip']}-{day}")
    # 3a. A careful burst: one phone on the centre's Wi-Fi, one afternoon.
    day = date(2026, 11, 12)
    for minute in np.sort(rng.uniform(0, 150, size=20)):
        answers, hl = careful_answers(rng)
        add("careful burst", vn(day, 13 * 60 + 30 + minute), rng.uniform(60, 90), answers, hl,
            stuffer_count(rng, 22, 0.88), ids("sd"), f"wifi-{chosen['careful burst']}-{day}")
    # 3b. A careful drip.
    for day in days(*MONTH):
        if day.weekday() == 6:
            continue
        n = int(rng.integers(2, 5)) if day.weekday() < 5 else int(rng.integers(0, 2))
        for _ in range(n):
            answers, hl = careful_answers(rng)
            add("careful drip", working_moment(rng, day), rng.uniform(60, 90), answers, hl,
                stuffer_count(rng, 22, 0.88), ids("sd"), f"wifi-{chosen['careful drip']}-{day}")
    return events, chosen


class Baselines:
    """Each centre's unflagged poster responses of the 28 days before a day, as the app counts them."""

    def __init__(self, warm_up: list[Event], rules: Rules) -> None:
        self.rules = rules
        self.by_centre_day: dict[tuple[str, date], list[Submission]] = defaultdict(list)
        for event in warm_up:
            self.add(event.submission)
        self.cache: dict[tuple[str, date], CentreBaseline] = {}

    def add(self, sub: Submission) -> None:
        if sub.via == "poster":
            self.by_centre_day[(sub.center, sub.submitted_at.astimezone(VIETNAM).date())].append(sub)

    def __call__(self, sub: Submission, flagged: set) -> CentreBaseline:
        today = sub.submitted_at.astimezone(VIETNAM).date()
        cached = self.cache.get((sub.center, today))
        if cached is not None:
            return cached
        start, end = baseline_period(sub.submitted_at)
        responses = top = satisfied = 0
        for offset in range(1, 29):
            for s in self.by_centre_day.get((sub.center, today - timedelta(days=offset)), ()):
                if s.key not in flagged:
                    responses += 1
                    top += is_top_rated(s)
                    satisfied += is_satisfied(s)
        hours = self.rules.hours_for(sub.center).hours_between(start, end)
        baseline = CentreBaseline(responses, top, satisfied, hours)
        self.cache[(sub.center, today)] = baseline
        return baseline


def run_rules(events: list[Event], warm_up: list[Event], rules: Rules) -> dict:
    """Feed events in time order through flags_for; return {key: {code: reason}}."""
    events = sorted(events, key=lambda e: (e.submission.submitted_at, str(e.submission.key)))
    baselines = Baselines(warm_up, rules)
    flags: dict = defaultdict(dict)
    at_centre: dict[str, deque] = defaultdict(deque)
    by_device: dict[str, deque] = defaultdict(deque)
    by_network: dict[str, deque] = defaultdict(deque)
    for event in events:
        new = event.submission
        since = new.submitted_at - RECENT
        recent = {}
        for queue in (at_centre[new.center], by_device.get(new.device), by_network.get(new.network)):
            if queue is None:
                continue
            while queue and queue[0].submitted_at < since:
                queue.popleft()
            for s in queue:
                recent[s.key] = s
        ordered = sorted(recent.values(), key=lambda s: (s.submitted_at, str(s.key)))
        for flag in flags_for(new, ordered, rules, baselines(new, flags.keys())):
            flags[flag.key].setdefault(flag.code, flag.reason)
        at_centre[new.center].append(new)
        if new.device:
            by_device[new.device].append(new)
        if new.network:
            by_network[new.network].append(new)
        baselines.add(new)
    return flags


def sipas(events: list[Event]) -> tuple[float, int]:
    values = [e.hl for e in events if e.hl is not None]
    return (100 * sum(v >= 4 for v in values) / len(values), len(values)) if values else (math.nan, 0)


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:.1f}%" if whole else "0/0"


def report(world: World, flags: dict, rules: Rules) -> None:
    events = world.events
    flagged = {k for k, codes in flags.items() if codes}
    scenarios = ["burst", "drip", "careful burst", "careful drip"]
    print("Injected responses flagged (any flag)")
    for scenario in scenarios:
        chosen = [e for e in events if e.source == scenario]
        hit = sum(e.submission.key in flagged for e in chosen)
        codes = Counter(code for e in chosen for code in flags.get(e.submission.key, {}))
        print(f"  {scenario:<14} at {world.stuffed[scenario]}: {share(hit, len(chosen)):<18} {dict(sorted(codes.items()))}")
    for label, group in (("scenarios 1–2", scenarios[:2]), ("all scenarios", scenarios)):
        chosen = [e for e in events if e.source in group]
        print(f"  {label:<27} {share(sum(e.submission.key in flagged for e in chosen), len(chosen))}")
    honest = [e for e in events if e.source == "honest"]
    print("Honest responses flagged (any flag)")
    print(f"  all                        {share(sum(e.submission.key in flagged for e in honest), len(honest))}")
    for label, test in (
        ("full form", lambda e: e.form == "full"),
        ("kiosk form", lambda e: e.form == "kiosk"),
        ("poster link", lambda e: e.submission.via == "poster"),
        ("dossier link", lambda e: e.submission.via == "dossier"),
        ("every answer 5", lambda e: is_top_rated(e.submission)),
    ):
        group = [e for e in honest if test(e)]
        print(f"  {label:<26} {share(sum(e.submission.key in flagged for e in group), len(group))}")
    codes = Counter(code for e in honest for code in flags.get(e.submission.key, {}))
    print(f"  per flag (a response may carry several): {dict(sorted(codes.items()))}")
    print("SIPAS index (% of HL answers 4–5), November, stuffed centres; changes in percentage points")
    print(f"  {'centre':<20} {'honest only':>14} {'with stuffing':>14} {'after exclusion':>16} {'moved':>7} {'left':>6}")
    for scenario in scenarios:
        code = world.stuffed[scenario]
        at = [e for e in events if e.submission.center == code]
        before = sipas([e for e in at if e.source == "honest"])
        during = sipas(at)
        after = sipas([e for e in at if e.submission.key not in flagged])
        cells = [f"{v:.1f} (n={n})" for v, n in (before, during, after)]
        print(
            f"  {code + ' ' + scenario:<20} {cells[0]:>14} {cells[1]:>14} {cells[2]:>16} "
            f"{during[0] - before[0]:>+7.1f} {after[0] - before[0]:>+6.1f}"
        )
    stuffed = set(world.stuffed.values())
    moves = []
    for centre in world.centres:
        if centre.code in stuffed:
            continue
        at = [e for e in events if e.submission.center == centre.code]
        moves.append(sipas([e for e in at if e.submission.key not in flagged])[0] - sipas(at)[0])
    moves = np.array(moves)
    print(
        f"  other {len(moves)} centres, change from excluding flagged honest responses: mean {moves.mean():+.2f} points, "
        f"largest {moves[np.argmax(np.abs(moves))]:+.2f}"
    )
    period_report(world, flags, rules)


def period_report(world: World, flags: dict, rules: Rules) -> None:
    """Centre-day and centre-month share tests (analysts' view), baseline = the warm-up month."""
    baselines = Baselines(world.warm_up, rules)
    by_centre = defaultdict(list)
    for event in world.events:
        by_centre[event.submission.center].append(event.submission)
    stuffed = {code: scenario for scenario, code in world.stuffed.items()}
    day_flags = Counter()
    month_flags = {}
    month_start = datetime.combine(MONTH[0], time(), VIETNAM)
    month_end = datetime.combine(MONTH[1] + timedelta(days=1), time(), VIETNAM)
    for centre in world.centres:
        subs = by_centre[centre.code]
        probe = Submission("probe", centre.code, month_start, None, (), 0)
        baseline = baselines(probe, set())
        for day in days(*MONTH):
            start = datetime.combine(day, time(), VIETNAM)
            if period_flags(centre.code, subs, start, start + timedelta(days=1), baseline, rules):
                day_flags[centre.code] += 1
        found = period_flags(centre.code, subs, month_start, month_end, baseline, rules)
        if found:
            month_flags[centre.code] = found
    print("Centre-level share tests (period_flags; baseline = the 28 days before November)")
    honest_days = sum(n for code, n in day_flags.items() if code not in stuffed)
    working = sum(day.weekday() < 6 for day in days(*MONTH)) * (len(world.centres) - len(stuffed))
    print(f"  centre-days flagged at the {len(world.centres) - len(stuffed)} unstuffed centres: {honest_days} of {working}")
    for code, scenario in stuffed.items():
        print(f"  {code} ({scenario}): {day_flags[code]} days flagged; month: "
              + ("; ".join(f.reason for f in month_flags.get(code, [])) or "not flagged"))
    others = sorted(code for code in month_flags if code not in stuffed)
    print(f"  unstuffed centres flagged over the month: {others or 'none'}")


_PEOPLE: dict[int, list[Respondent]] = {}


def build(seed: int, model: TimeModel = TimeModel(), knobs: Stuffing = Stuffing()) -> World:
    honest_rng, centre_rng, stuffing_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    centres = make_centres(centre_rng)
    if seed not in _PEOPLE:
        _PEOPLE.clear()
        _PEOPLE[seed] = honest_respondents(honest_rng, centres, WARM_UP[0], MONTH[1])
    warm_up = honest_events(_PEOPLE[seed], model, WARM_UP[0], WARM_UP[1])
    honest = honest_events(_PEOPLE[seed], model, MONTH[0], MONTH[1])
    injected, chosen = inject(stuffing_rng, centres, knobs)
    return World(centres, honest + injected, warm_up, chosen)


def flagged(world: World, flags: dict, source: str) -> tuple[int, int]:
    chosen = [e for e in world.events if e.source == source]
    return sum(bool(flags.get(e.submission.key)) for e in chosen), len(chosen)


SOURCES = ("honest", "burst", "drip", "careful burst", "careful drip")


def sensitivity(seed: int, world: World, flags: dict) -> None:
    print("Sensitivity (same seed; one assumption changed at a time; share flagged)")
    variants = [
        ("as above", None, None),
        ("honest times: sigma 0.75 instead of 0.6", TimeModel(sigma=0.75), Stuffing()),
        ("honest times: pure lognormal, median 150 s, sigma 0.5",
         TimeModel(floor_per_answer=0.0, full_median=150.0, kiosk_median=35.0, sigma=0.5), Stuffing()),
        ("drip staff read ~25 s more (median ~45 s in all)", TimeModel(), Stuffing(drip_reading_median=25.0)),
        ("drip staff read ~45 s more (median ~65 s in all)", TimeModel(), Stuffing(drip_reading_median=45.0)),
        ("burst on the centre's Wi-Fi", TimeModel(), Stuffing(burst_on_wifi=True)),
        ("burst spread over 3 hours", TimeModel(), Stuffing(burst_minutes=180.0)),
        ("burst spread over a working day", TimeModel(), Stuffing(burst_minutes=540.0)),
    ]
    print(f"  {'variant':<56}" + "".join(f"{source:>15}" for source in SOURCES))
    for label, model, knobs in variants:
        if model is not None:
            world = build(seed, model, knobs)
            flags = run_rules(world.events, world.warm_up, RULES)
        cells = []
        for source in SOURCES:
            hit, total = flagged(world, flags, source)
            cells.append(f"{100 * hit / total:.1f}%")
        print(f"  {label:<56}" + "".join(f"{cell:>15}" for cell in cells))


def replicates(seed: int, count: int) -> None:
    print(f"Replicates: seeds {seed + 1} to {seed + count} (new centres, traffic and stuffing each time)")
    pooled = Counter()
    print(f"  {'seed':<6}" + "".join(f"{source:>15}" for source in SOURCES))
    for other in range(seed + 1, seed + count + 1):
        world = build(other)
        result = run_rules(world.events, world.warm_up, RULES)
        cells = []
        for source in SOURCES:
            hit, total = flagged(world, result, source)
            pooled[(source, 0)] += hit
            pooled[(source, 1)] += total
            cells.append(f"{100 * hit / total:.1f}%")
        print(f"  {other:<6}" + "".join(f"{cell:>15}" for cell in cells))
    print(f"  {'pooled':<6}" + "".join(f"{100 * pooled[(s, 0)] / pooled[(s, 1)]:>14.1f}%" for s in SOURCES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-sensitivity", action="store_true", help="skip the reruns under other assumptions")
    parser.add_argument("--replicates", type=int, default=0, metavar="N", help="also run the N following seeds")
    args = parser.parse_args()
    began = clock.perf_counter()
    world = build(args.seed, TimeModel())
    centres = world.centres
    print(f"Seed {args.seed}: {len(centres)} centres, November 2026 (warm-up: 28 days of October)")
    honest = sum(e.source == "honest" for e in world.events)
    print(
        f"  honest responses in November: {honest} "
        f"(per centre per working day: {min(c.daily for c in centres):.1f} to {max(c.daily for c in centres):.1f}); "
        f"injected: {len(world.events) - honest}"
    )
    flags = run_rules(world.events, world.warm_up, RULES)
    report(world, flags, RULES)
    print("Examples of reasons")
    shown = set()
    for event in sorted(world.events, key=lambda e: e.submission.submitted_at):
        for code, reason in flags.get(event.submission.key, {}).items():
            if code not in shown:
                shown.add(code)
                print(f"  {code} ({event.source}): {reason}")
    if not args.no_sensitivity:
        sensitivity(args.seed, world, flags)
    if args.replicates:
        replicates(args.seed, args.replicates)
    print(f"({clock.perf_counter() - began:.1f} s)")


if __name__ == "__main__":
    main()
