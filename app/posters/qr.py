"""The QR code alone: as a module matrix, a PNG or a standalone SVG document."""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathFillImage

# Q (25 % of the code words recoverable) rather than M: posters hang for months on public walls and
# counters, where they get scuffed, folded, written on, half-covered by tape or laminated with
# glare. Survey URLs are short, so the extra modules cost little size, and the code stays within
# version 5-7 (37-45 modules) even with a signed ?t= token.
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_Q
# ISO/IEC 18004 asks for a light margin of 4 modules; scanners lose codes that sit closer to ink.
QUIET_ZONE_MODULES = 4


def _code(url: str, box_size: int = 10) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, box_size=box_size, border=QUIET_ZONE_MODULES)
    code.add_data(url)
    code.make(fit=True)
    return code


def qr_matrix(url: str) -> list[list[bool]]:
    """Dark (True) and light modules of the code for ``url``, quiet zone included."""
    return _code(url).get_matrix()


def qr_png(url: str, box_size: int = 10) -> bytes:
    """The QR code encoding ``url`` as a black-on-white PNG, ``box_size`` pixels per module."""
    if box_size < 1:
        raise ValueError(f"box_size must be at least 1 pixel, not {box_size}")
    buffer = io.BytesIO()
    _code(url, box_size).make_image(image_factory=PilImage).save(buffer)
    return buffer.getvalue()


def qr_svg(url: str) -> bytes:
    """The QR code encoding ``url`` as a standalone SVG document (UTF-8, one path, white background).

    The white background keeps the quiet zone light when the image is placed on a coloured page.
    """
    buffer = io.BytesIO()
    _code(url).make_image(image_factory=SvgPathFillImage).save(buffer)
    return buffer.getvalue()
