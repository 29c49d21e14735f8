"""Printable QR posters: pure rendering, plain arguments in and bytes out (no app, no database).

- :func:`qr_png`, :func:`qr_svg`: the QR code alone.
- :func:`poster_pdf`: one poster page per :class:`PosterPage`, in A4, A5 or A6 (the counter card).
"""

from app.posters.pdf import FONT_DIR, FORMATS, PosterPage, poster_pdf
from app.posters.qr import qr_png, qr_svg

POSTER_SIZES = tuple(FORMATS)

__all__ = ["FONT_DIR", "POSTER_SIZES", "PosterPage", "poster_pdf", "qr_png", "qr_svg"]
