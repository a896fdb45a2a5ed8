"""Structure-aware mutations: valid containers (PNG chunks with right CRCs, ``.npz`` archives) around contents
that break the readers' assumptions, so that a change reaches the decoder instead of a checksum."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from fuzz.mutations import pack, pil_seeds
from hypothesis import strategies as st


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``(type, payload)`` of each chunk of a valid PNG."""
    chunks, pos = [], 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def png_join(chunks: list[tuple[bytes, bytes]]) -> bytes:
    out = bytearray(b"\x89PNG\r\n\x1a\n")
    for kind, payload in chunks:
        out += len(payload).to_bytes(4, "big") + kind + payload
        out += struct.pack(">I", zlib.crc32(kind + payload))
    return bytes(out)


# Ancillary chunks the PNG reader interprets, with payloads that may or may not fit the image's mode.
PNG_EXTRA = st.tuples(
    st.sampled_from([b"tRNS", b"gAMA", b"eXIf", b"iCCP", b"PLTE", b"pHYs", b"tEXt", b"sBIT", b"bKGD"]),
    st.binary(max_size=24),
)


@st.composite
def png_files(draw: st.DrawFn) -> bytes:
    """A valid PNG changed at the chunk level, every CRC right: IHDR fields (size, bit depth, colour type,
    interlace) rewritten, chunks dropped, duplicated or added (tRNS, eXIf, PLTE, ...), IDAT recompressed."""
    chunks = png_chunks(draw(st.sampled_from(pil_seeds()[".png"])))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(("ihdr", "drop", "duplicate", "add", "idat")))
        if op == "ihdr":
            ihdr = bytearray(chunks[0][1])
            offset, width = draw(st.sampled_from([(0, 4), (4, 4), (8, 1), (9, 1), (10, 1), (11, 1), (12, 1)]))
            value = draw(st.sampled_from((0, 1, 2, 3, 4, 6, 8, 9, 12, 16, 255, 65535, 2**31 - 1)))
            ihdr[offset : offset + width] = pack(value, width, big=True)
            chunks[0] = (b"IHDR", bytes(ihdr))
        elif op == "drop" and len(chunks) > 1:
            del chunks[draw(st.integers(0, len(chunks) - 1))]
        elif op == "duplicate":
            chunks.insert(draw(st.integers(0, len(chunks))), draw(st.sampled_from(chunks)))
        elif op == "add":
            chunks.insert(draw(st.integers(1, len(chunks))), draw(PNG_EXTRA))
        elif op == "idat":  # a valid zlib stream of other raw scanlines
            raw = draw(st.binary(max_size=600))
            chunks = [c for c in chunks if c[0] != b"IDAT"]
            chunks.insert(max(1, len(chunks) - 1), (b"IDAT", zlib.compress(raw)))
    return png_join(chunks)


NPZ_KEYS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels", "other")
npz_arrays = st.one_of(
    st.builds(
        lambda shape, dtype: np.zeros(shape, dtype),
        st.lists(st.integers(0, 5), min_size=0, max_size=5).map(tuple),
        st.sampled_from(["u1", "u1", "i8", "u2", "f4", "f8", "bool", "i1", "c8", "U3", "V4"]),
    ),
    st.sampled_from(
        [np.array([[0], [1], [-1]]), np.array([2**62, 0]), np.array([0.5, 1.0]), np.ones((3, 9, 12, 3), "u1")]
    ),
)


@st.composite
def npz_files(draw: st.DrawFn) -> bytes:
    """An ``.npz`` of valid structure whose arrays have any shape and dtype (a header-level edit of the seed):
    images of 0 to 5 axes, float or signed labels, counts that differ, a missing or an extra key."""
    arrays = {"train_images": np.ones((3, 9, 12), "u1"), "train_labels": np.array([0, 1, 0])}
    for key in draw(st.lists(st.sampled_from(NPZ_KEYS), max_size=3)):
        arrays[key] = draw(npz_arrays)
    for key in draw(st.lists(st.sampled_from(sorted(arrays)), max_size=1)):
        del arrays[key]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
