"""A memory's sentences, each with a vector of its own ("sentences" vectors, see vectors.py).

One vector for a whole memory is the average of what its sentences say: a long chat turn or a
document chunk that answers the question in one sentence among five matches it less than a short
turn that only touches the topic. Recall's "dense_sentence" feature is the best cosine among the
memory's sentences (or the whole text's, when that is higher), so one matching sentence counts.

Sentences shorter than MIN_PIECE characters are joined to the next one ("Wow! That's great." says
little on its own, and every vector is stored), so a typical chat turn has one to three pieces.
A memory of one piece stores no sentence vectors: its text vector already is its sentence's.

Vectors are stored as float16 (half the bytes of the text vector each; a cosine moves by < 1e-3).
"""

from __future__ import annotations

import re

import numpy as np

MIN_PIECE = 60  # characters: shorter sentences are joined to their neighbour
MAX_PIECES = 24  # a longer text keeps its first MAX_PIECES - 1 pieces and the rest as one

# A sentence ends at . ! ? (and any closing quotes or brackets after it) followed by a space.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"”’)\]]*\s+")


def split_pieces(text: str) -> list[str]:
    """The pieces of `text` that get a vector each: its sentences, short ones joined. Every
    character of `text` but the whitespace between sentences is in exactly one piece, in order."""
    pieces: list[str] = []
    start = 0
    for boundary in _BOUNDARY.finditer(text):
        _add(pieces, text[start : boundary.start() + len(boundary.group().rstrip())])
        start = boundary.end()
    _add(pieces, text[start:])
    if len(pieces) > 1 and len(pieces[-1]) < MIN_PIECE:
        last = pieces.pop()
        pieces[-1] = f"{pieces[-1]} {last}"
    if len(pieces) > MAX_PIECES:
        pieces[MAX_PIECES - 1 :] = [" ".join(pieces[MAX_PIECES - 1 :])]
    return pieces


def _add(pieces: list[str], piece: str) -> None:
    piece = piece.strip()
    if not piece:
        return
    if pieces and len(pieces[-1]) < MIN_PIECE:
        pieces[-1] = f"{pieces[-1]} {piece}"
    else:
        pieces.append(piece)


def pack(vectors: np.ndarray) -> bytes:
    """(pieces, dim) float vectors → the stored blob (float16, row after row)."""
    return np.ascontiguousarray(vectors, dtype=np.float16).tobytes()


def unpack(blob: bytes, dim: int) -> np.ndarray:
    """The stored blob → (pieces, dim) float32; (0, dim) for an empty or mis-sized blob (a
    memory of one piece, or vectors of an encoder with another dimension)."""
    if not blob or len(blob) % (2 * dim):
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(blob, dtype=np.float16).reshape(-1, dim).astype(np.float32)
