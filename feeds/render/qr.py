"""QR codes as SVG (segno): for a poster, scanned by a phone's camera."""

from __future__ import annotations

import io

import segno


def qr_svg(data: str, title: str) -> bytes:
    """A scalable code (a viewBox, no fixed size), black on white with the quiet zone the
    standard asks for, and error correction M: a printed poster may get a crease."""
    buffer = io.BytesIO()
    segno.make(data, error="m", micro=False).save(
        buffer, kind="svg", scale=4, border=4, title=title, omitsize=True, dark="#000", light="#fff"
    )
    return buffer.getvalue()
