"""Masking personal data that citizens type into free-text answers.

Phone numbers, e-mail addresses and ID numbers (CMND 9 digits, CCCD 12 digits) are replaced
wherever a comment is shown or exported (Luật Bảo vệ dữ liệu cá nhân 91/2025/QH15).
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# Vietnamese phone numbers: 0 or +84/84 then 8–10 digits, possibly split by spaces, dots or dashes.
PHONE = re.compile(r"(?<![\w+])(?:\+84|84|0)(?:[\s.\-]?\d){8,10}(?!\d)")
ID_NUMBER = re.compile(r"(?<!\d)(?:\d{12}|\d{9})(?!\d)")

EMAIL_MASK = "[email]"
PHONE_MASK = "[số điện thoại]"
ID_MASK = "[số định danh]"


def mask_personal_data(text: str) -> str:
    text = EMAIL.sub(EMAIL_MASK, text)
    text = ID_NUMBER.sub(ID_MASK, text)
    return PHONE.sub(PHONE_MASK, text)
