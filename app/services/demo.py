"""The demo province: units, centres, fields, accounts and synthetic responses.

Modelled on Quảng Ninh after the 2025 reorganisation (province and communes), with a few of its
former districts kept as expired units so that older reports have something to show. Unit codes
and centre codes are illustrative. Every synthetic response is stored with ``source = 'demo'``,
so it can never be mistaken for a real one.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analysis.integrity import Rules
from app.models import AdministrativeUnit, Counter, Field, Response, ServiceCenter, User
from app.services.submissions import submit_response
from app.timeutil import VIETNAM
from surveys import Instrument, load_instrument

PROVINCE = ("22", "Tỉnh Quảng Ninh", date(1963, 10, 30))
REFORM_DAY = date(2025, 7, 1)
FORMER_DISTRICTS = [
    ("193", "Thành phố Hạ Long"),
    ("195", "Thành phố Móng Cái"),
    ("196", "Thành phố Cẩm Phả"),
    ("197", "Thành phố Uông Bí"),
]
# (unit code, unit name, centre code, Vietnamese place name, English place name, instrument)
COMMUNES = [
    ("25135", "Phường Hạ Long", "qn-ha-long", "phường Hạ Long", "Ha Long Ward", None),
    ("25136", "Phường Bãi Cháy", "qn-bai-chay", "phường Bãi Cháy", "Bai Chay Ward", None),
    ("25137", "Phường Hồng Gai", "qn-hong-gai", "phường Hồng Gai", "Hong Gai Ward", None),
    ("25138", "Phường Hà Tu", "qn-ha-tu", "phường Hà Tu", "Ha Tu Ward", None),
    ("25139", "Phường Cẩm Phả", "qn-cam-pha", "phường Cẩm Phả", "Cam Pha Ward", None),
    ("25140", "Phường Uông Bí", "qn-uong-bi", "phường Uông Bí", "Uong Bi Ward", None),
    ("25141", "Phường Móng Cái 1", "qn-mong-cai-1", "phường Móng Cái 1", "Mong Cai 1 Ward", None),
    ("25142", "Phường Đông Triều", "qn-dong-trieu", "phường Đông Triều", "Dong Trieu Ward", None),
    ("25143", "Phường Quảng Yên", "qn-quang-yen", "phường Quảng Yên", "Quang Yen Ward", None),
    ("25144", "Đặc khu Vân Đồn", "qn-van-don", "đặc khu Vân Đồn", "Van Don Special Zone", None),
    ("25145", "Xã Tiên Yên", "qn-tien-yen", "xã Tiên Yên", "Tien Yen Commune", None),
    ("25146", "Xã Bình Liêu", "qn-binh-lieu", "xã Bình Liêu", "Binh Lieu Commune", None),
    ("25147", "Đặc khu Cô Tô", "qn-co-to", "đặc khu Cô Tô", "Co To Special Zone", "sipas-kiosk-2023@1"),
]
FIELDS = [
    ("dat-dai", "Đất đai", "Land", -0.7),
    ("xay-dung", "Xây dựng", "Construction", -0.4),
    ("ho-tich", "Hộ tịch", "Civil status", 0.4),
    ("chung-thuc", "Chứng thực", "Certification", 0.5),
    ("dang-ky-kinh-doanh", "Đăng ký kinh doanh", "Business registration", 0.1),
    ("lao-dong-xa-hoi", "Lao động, người có công và xã hội", "Labour, veterans and social affairs", 0.2),
    ("tu-phap", "Tư pháp", "Justice", 0.2),
    ("giao-thong", "Giao thông vận tải", "Transport", -0.1),
    ("moi-truong", "Nông nghiệp và môi trường", "Agriculture and environment", -0.3),
]
FIELD_SHARES = [0.22, 0.08, 0.2, 0.2, 0.06, 0.08, 0.06, 0.05, 0.05]
ACCOUNTS = [
    ("admin@demo.local", "Quản trị viên (demo)", "admin"),
    ("analyst@demo.local", "Chuyên viên phân tích (demo)", "analyst"),
    ("staff@demo.local", "Cán bộ Trung tâm phường Hạ Long (demo)", "staff"),
]
STAFF_CENTER = "qn-ha-long"
COMMENTS = [
    "Cán bộ hướng dẫn nhiệt tình, chu đáo.",
    "Thời gian chờ lấy số hơi lâu vào buổi sáng.",
    "Nên có thêm chỗ để xe cho người dân.",
    "Hồ sơ đất đai trả chậm so với giấy hẹn.",
    "Phòng chờ sạch sẽ, có nước uống miễn phí.",
    "Mong được hướng dẫn nộp hồ sơ trực tuyến kỹ hơn.",
    "Máy lấy số thứ tự bị hỏng, phải hỏi nhiều lần.",
    "Cần thông báo khi hồ sơ có kết quả, gọi cho tôi số 0912 345 678.",
    "Rất hài lòng, cảm ơn các cán bộ.",
    "Phải đi lại nhiều lần vì thiếu giấy tờ mà không được báo trước.",
]


@dataclass
class DemoReport:
    centers: list[str]
    responses_added: int
    responses_total: int
    passwords: dict[str, str]


def _get_or_add(session: Session, model, lookup: dict, **values):
    found = session.scalars(select(model).filter_by(**lookup)).one_or_none()
    if found is None:
        found = model(**lookup, **values)
        session.add(found)
        session.flush()
    return found


def _places(session: Session) -> list[ServiceCenter]:
    code, name, founded = PROVINCE
    province = _get_or_add(session, AdministrativeUnit, {"code": code, "valid_from": founded}, name=name, level="province")
    for district_code, district_name in FORMER_DISTRICTS:
        _get_or_add(
            session,
            AdministrativeUnit,
            {"code": district_code, "valid_from": date(1994, 12, 27)},
            name=district_name,
            level="district",
            parent=province,
            valid_to=REFORM_DAY - timedelta(days=1),
        )
    centers = [
        _get_or_add(
            session,
            ServiceCenter,
            {"code": "qn-hcc"},
            name_vi="Trung tâm Phục vụ hành chính công tỉnh Quảng Ninh",
            name_en="Quang Ninh Provincial Public Administration Service Centre",
            unit=province,
            level="province",
            address="Tầng 1, Trụ sở Liên cơ quan số 3, phường Hồng Gai, tỉnh Quảng Ninh",
            valid_from=date(2013, 10, 1),
        )
    ]
    for unit_code, unit_name, center_code, place_vi, place_en, instrument_key in COMMUNES:
        unit = _get_or_add(
            session,
            AdministrativeUnit,
            {"code": unit_code, "valid_from": REFORM_DAY},
            name=unit_name,
            level="commune",
            parent=province,
        )
        centers.append(
            _get_or_add(
                session,
                ServiceCenter,
                {"code": center_code},
                name_vi=f"Trung tâm Phục vụ hành chính công {place_vi}",
                name_en=f"{place_en} Public Administration Service Centre",
                unit=unit,
                level="commune",
                instrument_key=instrument_key,
                valid_from=REFORM_DAY,
            )
        )
    for center in centers[:2]:
        for number in (1, 2, 3):
            _get_or_add(session, Counter, {"center_id": center.id, "code": str(number)}, name=f"Quầy số {number}")
    return centers


def _fields(session: Session) -> list[Field]:
    return [
        _get_or_add(session, Field, {"code": code}, name_vi=vi, name_en=en, sort_order=index)
        for index, (code, vi, en, _) in enumerate(FIELDS)
    ]


def _accounts(session: Session, password: str | None) -> dict[str, str]:
    created = {}
    staff_center = session.scalars(select(ServiceCenter).filter_by(code=STAFF_CENTER)).one()
    for email, name, role in ACCOUNTS:
        user = session.scalars(select(User).filter_by(email=email)).one_or_none()
        if user is None:
            user = User(email=email, name=name, role=role)
            secret = password or secrets.token_urlsafe(12)
            user.set_password(secret)
            if role == "staff":
                user.centers.append(staff_center)
            session.add(user)
            created[email] = secret
        elif password and not user.check_password(password):
            user.set_password(password)
            created[email] = password
    session.flush()
    return created


def seed_demo(session: Session, responses: int, now: datetime, password: str | None = None, seed: int = 2026) -> DemoReport:
    """Create the demo province if missing and top its synthetic responses up to ``responses``."""
    centers = _places(session)
    fields = _fields(session)
    passwords = _accounts(session, password)
    existing = session.scalar(select(func.count()).select_from(Response).where(Response.source == "demo"))
    missing = max(0, responses - existing)
    generator = _ResponseGenerator(random.Random(seed + existing), centers, fields, now)
    fields_by_code = {f.code: f for f in fields}
    for index in range(missing):
        center, instrument, answers, started, submitted = generator.next()
        submit_response(
            session,
            center=center,
            instrument=instrument,
            answers=answers,
            fields_by_code=fields_by_code,
            locale="vi" if generator.rng.random() < 0.97 else "en",
            started_at=started,
            submitted_at=submitted,
            rules=Rules(),
            source="demo",
            compare_with_recent=False,
        )
    return DemoReport([c.code for c in centers], missing, existing + missing, passwords)


class _ResponseGenerator:
    """Synthetic answers with the structure real ones have.

    Each centre and field has its own level of satisfaction, each respondent a personal
    leniency, and the items of one element move together; the overall question follows the
    elements; feedback items are mostly "không áp dụng"; results not yet received leave the
    result items not applicable; people who made more trips are less satisfied.
    """

    ELEMENT_SHIFT = {"TC": 0.3, "TT": 0.0, "CC": 0.2, "KQ": -0.1, "PA": -0.4}
    CUTS = (-2.6, -1.7, -0.5, 1.7)

    def __init__(self, rng: random.Random, centers: list[ServiceCenter], fields: list[Field], now: datetime):
        self.rng = rng
        self.centers = centers
        self.fields = fields
        self.field_shift = {code: shift for code, _, _, shift in FIELDS}
        self.now = now
        local = random.Random(7)
        self.center_level = {c.code: local.gauss(1.3, 0.45) for c in centers}
        self.center_weight = [4.0 if c.level == "province" else local.uniform(0.6, 1.6) for c in centers]

    def _score(self, latent: float) -> str:
        noisy = latent + self.rng.gauss(0, 0.9)
        return str(1 + sum(noisy > cut for cut in self.CUTS))

    def _moment(self) -> tuple[datetime, datetime]:
        for _ in range(1000):
            day = (self.now.astimezone(VIETNAM) - timedelta(days=self.rng.randrange(0, 365))).date()
            weekday = day.weekday()
            if weekday == 6 or (weekday == 5 and self.rng.random() < 0.7):
                continue
            if self.rng.random() < 0.6:
                minutes = self.rng.uniform(7.5 * 60, 11.5 * 60)
            else:
                minutes = self.rng.uniform(13.5 * 60, 17 * 60)
            submitted = datetime.combine(day, time(), VIETNAM) + timedelta(minutes=minutes)
            if submitted < self.now:
                started = submitted - timedelta(seconds=self.rng.uniform(70, 480))
                return started, submitted
        raise RuntimeError("no plausible time found")

    def next(self) -> tuple[ServiceCenter, Instrument, dict, datetime, datetime]:
        rng = self.rng
        center = rng.choices(self.centers, weights=self.center_weight)[0]
        instrument = load_instrument(center.instrument_key or "sipas-dvhcc-2023@1")
        field = rng.choices(self.fields, weights=FIELD_SHARES)[0]
        trips = rng.choices(["1", "2", "3", "4+"], weights=[60, 28, 8, 4])[0]
        person = self.center_level[center.code] + self.field_shift[field.code] + rng.gauss(0, 0.8)
        person -= {"1": 0.0, "2": 0.4, "3": 0.9, "4+": 1.4}[trips]
        received = rng.random() < 0.75
        gave_feedback = rng.random() < 0.3
        answers: dict[str, str | list[str]] = {}
        if any(q.code == "field_code" for q in instrument.questions):
            answers["field_code"] = field.code
        element_latent = {}
        for element, shift in self.ELEMENT_SHIFT.items():
            latent = person + shift + rng.gauss(0, 0.5)
            element_latent[element] = latent
            not_applicable = (element == "PA" and not gave_feedback) or (element == "KQ" and not received)
            for question in instrument.questions:
                if question.element != element:
                    continue
                if question.not_applicable and not_applicable and rng.random() < 0.9:
                    answers[question.code] = instrument.not_applicable_value
                elif question.required or rng.random() > 0.03:
                    answers[question.code] = self._score(latent + rng.gauss(0, 0.4))
        overall = sum(element_latent.values()) / len(element_latent)
        answers["HL"] = self._score(overall + 0.1)
        codes = set(instrument.question_codes)
        extras = {
            "channel": rng.choices(["direct", "online", "postal"], weights=[80, 17, 3])[0],
            "result_received": "yes" if received else "no",
            "respondent_type": "person" if rng.random() < 0.88 else "organisation",
            "SL": trips,
            "PH": rng.choices(["none", "some", "many"], weights=[93 + 4 * (person > 0), 6, 1])[0],
            "TN": "yes" if rng.random() < 0.015 else "no",
            "gender": rng.choice(["male", "female"]),
            "age_group": rng.choices(["18-24", "25-34", "35-49", "50-60", "60+"], weights=[10, 27, 33, 18, 12])[0],
            "ethnicity": "kinh" if rng.random() < 0.9 else "other",
            "education": rng.choices(
                ["primary", "lower_secondary", "upper_secondary", "vocational", "university"], weights=[6, 17, 30, 17, 30]
            )[0],
            "occupation": rng.choices(
                ["civil_servant", "business", "worker", "farmer", "student", "retired", "other"],
                weights=[14, 22, 24, 16, 4, 12, 8],
            )[0],
        }
        for code, value in extras.items():
            if code in codes and (code == "channel" or rng.random() < 0.88):
                answers[code] = value
        if "UT" in codes and rng.random() < 0.7:
            options = ["capacity", "attitude", "transparency", "time", "procedures", "online", "facilities"]
            answers["UT"] = rng.sample(options, k=rng.choice([1, 1, 2, 3]))
        if "YK" in codes and rng.random() < 0.08:
            answers["YK"] = rng.choice(COMMENTS)
        started, submitted = self._moment()
        return center, instrument, answers, started, submitted
