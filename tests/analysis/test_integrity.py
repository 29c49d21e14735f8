"""Flag rules of analysis.integrity: each raised when it should, not when it should not, with a reason.

Times are Vietnam time on Wednesday 18 November 2026 unless a test says otherwise. The baseline
``USUAL`` is a centre of ~12 responses a day: 300 poster responses in 28 days (220 opening hours),
90 of them all 5 and 150 all 4–5.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from analysis.integrity import (
    VIETNAM,
    CentreBaseline,
    Flag,
    OpeningHours,
    Rules,
    Submission,
    baseline_period,
    flags_for,
    is_satisfied,
    is_top_rated,
    period_flags,
)

DAY = datetime(2026, 11, 18, tzinfo=VIETNAM)  # a Wednesday
ALL_FIVE = ("5",) * 22
MIXED = ("4", "5", "3", "4", "5", "4", "2", "4", "5", "4", "4", "3", "5", "4", "4", "5", "4", "4", "3", "4", "5", "4")
USUAL = CentreBaseline(responses=300, top_rated=90, satisfied=150, opening_hours=220.0)
RULES = Rules()


def at(hour: int, minute: float = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


def response(key, when, answers=MIXED, *, seconds=150.0, count=35, center="c1", device=None, network=None, via="poster"):
    return Submission(key, center, when, seconds, tuple(answers), count, device, network, via)


def codes(flags: list[Flag], key) -> set[str]:
    return {f.code for f in flags if f.key == key}


def reasons_are_readable(flags: list[Flag]) -> None:
    for flag in flags:
        assert flag.reason and len(flag.reason) <= 300, flag  # the app stores 300 characters


def run(stream: list[Submission], rules: Rules = RULES, baseline: CentreBaseline | None = USUAL) -> dict:
    """Feed ``stream`` as the app does: recent = last 3 h at the centre + same device or network."""
    flags: dict = {}
    for index, new in enumerate(stream):
        since = new.submitted_at - timedelta(hours=3)
        recent = [
            s for s in stream[:index]
            if s.submitted_at >= since
            and (s.center == new.center or (new.device and s.device == new.device) or (new.network and s.network == new.network))
        ]
        raised = flags_for(new, recent, rules, baseline)
        reasons_are_readable(raised)
        for flag in raised:
            flags.setdefault(flag.key, {}).setdefault(flag.code, flag.reason)
    return flags


# too_fast ---------------------------------------------------------------------------------------


def test_too_fast_below_the_plausible_minimum_only():
    minimum = RULES.plausible_seconds(35)
    fast = response("a", at(9), seconds=minimum - 1)
    slow = response("b", at(9), seconds=minimum + 1)
    flags = flags_for(fast, [])
    assert codes(flags, "a") == {"too_fast"}
    assert "plausible minimum" in flags[0].reason
    assert flags_for(slow, []) == []
    assert flags_for(response("c", at(9), seconds=None), []) == []


# straight_line_fast ----------------------------------------------------------------------------


def test_straight_line_fast_needs_both_identical_answers_and_speed():
    hurried = RULES.hurried_seconds(22)
    # Only the required questions besides the 22 satisfaction ones: too_fast's bar drops to 34 s.
    assert RULES.plausible_seconds(24) < hurried - 5
    flags = flags_for(response("a", at(9), ALL_FIVE, seconds=hurried - 5, count=24), [])
    assert codes(flags, "a") == {"straight_line_fast"}
    assert flags[0].reason == "all 22 satisfaction answers are 5 and the form took 38 s; reading them takes at least 43 s"
    # Honest straight-liners who took their time, and fast people who did not straight-line.
    assert flags_for(response("b", at(9), ALL_FIVE, seconds=hurried + 1, count=24), []) == []
    assert flags_for(response("c", at(9), MIXED, seconds=hurried - 5, count=24), []) == []


def test_straight_line_fast_also_for_other_values_but_not_on_short_forms():
    assert codes(flags_for(response("a", at(9), ("3",) * 15, seconds=20), []), "a") >= {"straight_line_fast"}
    kiosk = response("k", at(9), ("5",) * 6, seconds=14, count=6)
    assert "straight_line_fast" not in codes(flags_for(kiosk, []), "k")


def test_skipping_optional_questions_does_not_lower_the_straight_line_bar():
    # Same satisfaction answers and time; fewer optional answers must not make it pass.
    few = flags_for(response("a", at(9), ALL_FIVE, seconds=38, count=24), [])
    many = flags_for(response("b", at(9), ALL_FIVE, seconds=38, count=38), [])
    assert "straight_line_fast" in codes(few, "a") and "straight_line_fast" in codes(many, "b")


# off_hours ---------------------------------------------------------------------------------------


def test_off_hours_for_poster_responses_outside_opening_hours_only():
    evening = response("a", at(21), via="poster")
    flags = flags_for(evening, [])
    assert codes(flags, "a") == {"off_hours"}
    assert "21:00" in flags[0].reason and "outside opening hours" in flags[0].reason
    assert flags_for(response("b", at(21), via="dossier"), []) == []  # one-time links are answered at home
    assert flags_for(response("c", at(10)), []) == []
    assert flags_for(response("d", at(18, 15)), []) == []  # within the grace period after 17:30
    sunday = datetime(2026, 11, 22, 10, tzinfo=VIETNAM)
    assert codes(flags_for(response("e", sunday), []), "e") == {"off_hours"}


def test_opening_hours_can_differ_by_centre():
    evenings = OpeningHours({d: (time(13), time(20)) for d in range(7)}, grace=timedelta(0))
    rules = Rules(opening_hours_by_center={"late": evenings})
    assert flags_for(response("a", at(19), center="late"), [], rules) == []
    assert codes(flags_for(response("b", at(19), center="c1"), [], rules), "b") == {"off_hours"}
    assert codes(flags_for(response("c", at(10), center="late"), [], rules), "c") == {"off_hours"}


def test_opening_hours_between_counts_hours_without_grace():
    hours = OpeningHours()
    monday = datetime(2026, 11, 16, tzinfo=VIETNAM)
    assert hours.hours_between(monday, monday + timedelta(days=7)) == pytest.approx(5 * 10.5 + 4.5)
    assert hours.hours_between(monday + timedelta(hours=12), monday + timedelta(hours=13)) == pytest.approx(1.0)
    assert hours.hours_between(monday + timedelta(hours=20), monday + timedelta(hours=23)) == 0.0


# device_repeat ----------------------------------------------------------------------------------


def test_device_repeat_flags_every_response_of_the_device_once_too_many():
    stream = [
        response("a", at(9), center="c1", device="phone"),
        response("b", at(9, 40), center="c2", device="phone"),
        response("c", at(10, 20), center="c3", device="phone"),
    ]
    flags = run(stream)
    assert all("device_repeat" in flags.get(key, {}) for key in "abc")
    assert "3 responses from one device" in flags["a"]["device_repeat"] and "3 centres" in flags["a"]["device_repeat"]


def test_two_responses_from_one_device_are_not_flagged():
    # Someone answers the one-time links of two dossiers from one phone; or visits two centres.
    stream = [response("a", at(19), device="phone", via="dossier"), response("b", at(19, 10), device="phone", via="dossier")]
    assert run(stream) == {}
    stream = [response("a", at(9), device="p1"), response("b", at(9, 5), device="p2"), response("c", at(9, 9), device="p3")]
    assert run(stream) == {}


# centre_burst -----------------------------------------------------------------------------------


def burst(count: int, start: datetime, minutes: float, answers=ALL_FIVE, prefix="s", network=None, **kwargs):
    step = minutes / count
    return [
        response(f"{prefix}{i}", start + timedelta(minutes=i * step), answers, device=f"{prefix}-d{i}",
                 network=network(i) if callable(network) else network, **kwargs)
        for i in range(count)
    ]


def test_centre_burst_flags_the_whole_burst_retroactively():
    honest_before = [response("h0", at(13, 50), MIXED), response("h1", at(13, 55), ALL_FIVE)]
    stuffing = burst(20, at(14), 40, network=lambda i: f"phone-{i % 2}")
    flags = run(honest_before + stuffing)
    assert all("centre_burst" in flags[s.key] for s in stuffing)
    # The first members were flagged only when later ones arrived.
    first = flags_for(stuffing[0], honest_before, RULES, USUAL)
    assert codes(first, stuffing[0].key) == set()
    reason = flags["s0"]["centre_burst"]
    assert "responses at this centre" in reason and "rated every question 5" in reason
    assert "usually 0.4 per opening hour and 30% of responses (baseline: 300)" in reason and "p " in reason
    assert "h0" not in flags  # not top-rated


def test_centre_burst_flags_only_members_of_the_burst_window():
    early = response("early", at(9), ALL_FIVE)  # more than 3 hours before: not in recent at all
    stuffing = burst(20, at(14), 40)
    other_centre = response("elsewhere", at(14, 10), ALL_FIVE, center="c2")
    flags = run([early] + stuffing[:10] + [other_centre] + stuffing[10:])
    assert "early" not in flags and "elsewhere" not in flags


def test_a_busy_hour_with_the_usual_share_is_not_a_burst():
    # 45 responses in an hour, three times the busiest hour, but the usual 30% all-5.
    stream = []
    for i in range(45):
        stream.append(response(f"r{i}", at(9, i * 60 / 45), ALL_FIVE if i % 10 < 3 else MIXED, device=f"d{i}"))
    assert run(stream) == {}


def test_a_few_enthusiasts_in_a_quiet_hour_are_not_a_burst():
    stream = burst(6, at(10), 50)
    assert run(stream) == {}


def test_the_same_burst_is_normal_at_a_centre_where_it_is_usual():
    busy = CentreBaseline(responses=6000, top_rated=5400, satisfied=5700, opening_hours=220.0)
    assert run(burst(20, at(14), 40), baseline=busy) == {}


def test_careful_burst_of_fours_and_fives_is_caught_by_the_satisfied_class():
    careful = [tuple("5" if (i + j) % 3 else "4" for j in range(22)) for i in range(30)]
    stream = [response(f"s{i}", at(13, 30 + i * 3), careful[i], seconds=75, device=f"d{i}") for i in range(30)]
    assert not any(is_top_rated(s) for s in stream) and all(is_satisfied(s) for s in stream)
    flags = run(stream)
    assert all("centre_burst" in flags[s.key] for s in stream)
    assert "rated every question 4 or 5" in flags["s0"]["centre_burst"]


def test_dossier_responses_never_join_or_raise_a_burst():
    stream = burst(30, at(19), 40, via="dossier")
    assert run(stream) == {}


def test_without_a_baseline_only_gross_bursts_are_flagged():
    assert run(burst(8, at(14), 20), baseline=None) == {}
    flags = run(burst(60, at(14), 45), baseline=None)
    assert all("centre_burst" in flags[f"s{i}"] for i in range(60))
    assert "too little history" in flags["s0"]["centre_burst"]
    # A baseline too small to rely on is treated as none.
    tiny = CentreBaseline(responses=10, top_rated=1, satisfied=2, opening_hours=200.0)
    assert run(burst(8, at(14), 20), baseline=tiny) == {}


# network_burst ----------------------------------------------------------------------------------


def test_network_burst_finds_one_phone_hidden_in_a_busy_centre():
    busy = CentreBaseline(responses=2400, top_rated=600, satisfied=1200, opening_hours=220.0)
    stream = []
    for i in range(60):  # an hour of honest traffic, no all-5 among it, many networks
        stream.append(response(f"h{i}", at(9, i), MIXED, device=f"hd{i}", network=f"m{i}"))
    phone = burst(16, at(9, 5), 50, prefix="s", network="mobile-of-the-stuffer")
    stream = sorted(stream + phone, key=lambda s: s.submitted_at)
    flags = run(stream, baseline=busy)
    assert all("network_burst" in flags[s.key] for s in phone)
    assert not any("centre_burst" in flags.get(s.key, {}) for s in phone)
    assert not any(key.startswith("h") for key in flags)
    assert "responses from one network" in flags["s0"]["network_burst"]


def test_a_shared_centre_wifi_with_the_usual_share_is_not_a_burst():
    busy = CentreBaseline(responses=2400, top_rated=720, satisfied=1200, opening_hours=220.0)
    stream = [
        response(f"h{i}", at(9, i * 2), ALL_FIVE if i % 10 < 3 else MIXED, device=f"d{i}", network="centre-wifi")
        for i in range(30)
    ]
    assert run(stream, baseline=busy) == {}


# period_flags -----------------------------------------------------------------------------------


def test_period_flags_a_centre_whose_share_of_top_ratings_jumped():
    start = datetime(2026, 11, 1, tzinfo=VIETNAM)
    end = datetime(2026, 12, 1, tzinfo=VIETNAM)
    month = [response(f"r{i}", start + timedelta(days=i % 28, hours=9), ALL_FIVE if i % 2 else MIXED) for i in range(300)]
    found = period_flags("c1", month, start, end, USUAL)
    assert {f.code for f in found} >= {"centre_top_share"}
    flag = next(f for f in found if f.code == "centre_top_share")
    assert flag.center == "c1" and flag.start == start and flag.end == end
    assert "150 of 300 responses (50%) from 01/11 to 30/11 rated every question 5; usually 30%" in flag.reason


def test_period_flags_nothing_for_the_usual_share_nor_for_other_centres_and_links():
    start = datetime(2026, 11, 1, tzinfo=VIETNAM)
    end = datetime(2026, 12, 1, tzinfo=VIETNAM)
    usual = [response(f"r{i}", start + timedelta(days=i % 28, hours=9), ALL_FIVE if i % 10 < 3 else MIXED) for i in range(300)]
    assert period_flags("c1", usual, start, end, USUAL) == []
    elsewhere = [response(f"o{i}", start + timedelta(days=i % 28, hours=9), ALL_FIVE, center="c2") for i in range(100)]
    links = [response(f"l{i}", start + timedelta(days=i % 28, hours=20), ALL_FIVE, via="dossier") for i in range(100)]
    later = [response(f"x{i}", end + timedelta(hours=9), ALL_FIVE) for i in range(100)]
    assert period_flags("c1", usual + elsewhere + links + later, start, end, USUAL) == []


# records and helpers ----------------------------------------------------------------------------


def test_baseline_counts_are_checked():
    with pytest.raises(ValueError):
        CentreBaseline(responses=10, top_rated=5, satisfied=4, opening_hours=100)
    with pytest.raises(ValueError):
        CentreBaseline(responses=10, top_rated=1, satisfied=11, opening_hours=100)
    with pytest.raises(ValueError):
        CentreBaseline(responses=10, top_rated=1, satisfied=2, opening_hours=-1)


def test_baseline_period_is_the_28_vietnam_days_before_the_day():
    late_evening_utc = datetime(2026, 11, 18, 18, 30, tzinfo=VIETNAM).astimezone(VIETNAM)
    start, end = baseline_period(late_evening_utc)
    assert end == datetime(2026, 11, 18, tzinfo=VIETNAM) and start == datetime(2026, 10, 21, tzinfo=VIETNAM)
    from datetime import timezone

    # 23:30 UTC on the 17th is 06:30 on the 18th in Hà Nội.
    start, end = baseline_period(datetime(2026, 11, 17, 23, 30, tzinfo=timezone.utc))
    assert end == datetime(2026, 11, 18, tzinfo=VIETNAM)


def test_rating_classes():
    assert is_top_rated(response("a", at(9), ALL_FIVE)) and is_satisfied(response("a", at(9), ALL_FIVE))
    assert not is_top_rated(response("b", at(9), ("5", "4"))) and is_satisfied(response("b", at(9), ("5", "4")))
    assert not is_satisfied(response("c", at(9), ("5", "3")))
    assert not is_top_rated(response("d", at(9), ())) and not is_satisfied(response("d", at(9), ()))


def test_flags_for_keeps_its_old_call_shape():
    # The web app calls flags_for(new, recent, rules); the baseline is optional.
    assert flags_for(response("a", at(10)), [], Rules()) == []
    assert flags_for(response("a", at(10)), []) == []
