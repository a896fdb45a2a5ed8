"""The one limit on the size of an image a reader decodes, and its message.

Every reader checks the size its file *declares* (PNG/JPEG/TIFF header, DICOM Rows x Columns, NIfTI dims, the
``.npy`` headers of an ``.npz``) against :data:`MAX_IMAGE_PIXELS` before decoding anything, so a small
compressed file that declares a huge picture (a decompression bomb) is refused in milliseconds, in ``train``
and ``predict`` (an unreadable file) and in ``serve`` (413), with the same message.
"""

from __future__ import annotations

# Pillow's own default (PIL.Image.MAX_IMAGE_PIXELS, above which it warns of a decompression bomb): one decoded
# plane (width x height; one DICOM frame, one NIfTI slice, one TIFF page) may have at most this many pixels.
MAX_IMAGE_PIXELS = 89_478_485


def too_large(dims: tuple[int, ...], limit: int = MAX_IMAGE_PIXELS) -> str | None:
    """``"image too large: H x W pixels (N); the limit is L"`` when the declared ``dims`` exceed ``limit``."""
    pixels = 1
    for dim in dims:
        pixels *= max(int(dim), 0)
    if pixels <= limit:
        return None
    shown = (
        f"{' x '.join(str(int(d)) for d in dims)} pixels ({pixels:,})"
        if len(dims) > 1
        else f"{pixels:,} pixels"
    )
    return f"image too large: {shown}; the limit is {limit:,}"
