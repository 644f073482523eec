"""Turn Docs into the integer arrays the network reads. Vectorised per Doc: no
Python loop over tokens."""
from typing import List, Sequence

import numpy
from spacy.attrs import IDX, LENGTH
from spacy.tokens import Doc


def doc_char_ids(doc: Doc, max_chars: int, rows: int) -> numpy.ndarray:
    """Hashed character ids of every token, right-padded with 0.

    A token longer than ``max_chars`` is read as its first ``max_chars // 2`` and
    last ``max_chars - max_chars // 2`` characters.

    RETURNS (numpy.ndarray): Shape (len(doc), max_chars), int64; 0 is padding.
    """
    n_tokens = len(doc)
    if n_tokens == 0:
        return numpy.zeros((0, max_chars), dtype="int64")
    offsets = doc.to_array([IDX, LENGTH]).astype("int64")
    start, length = offsets[:, 0:1], offsets[:, 1:2]
    codepoints = numpy.frombuffer(doc.text.encode("utf-32-le"), dtype="uint32").astype("int64")
    pos = numpy.arange(max_chars)[None, :]
    head = max_chars // 2
    too_long = length > max_chars
    # For long tokens, the columns after `head` read the token's tail.
    read = numpy.where(too_long & (pos >= head), length - (max_chars - pos), pos)
    valid = pos < length
    index = numpy.where(valid, start + read, 0)
    if codepoints.size == 0:
        return numpy.zeros((n_tokens, max_chars), dtype="int64")
    ids = 1 + codepoints[numpy.minimum(index, codepoints.size - 1)] % (rows - 1)
    return numpy.where(valid, ids, 0)


def padded_char_ids(docs: Sequence[Doc], max_chars: int, rows: int) -> numpy.ndarray:
    """Character ids for a batch.

    RETURNS (numpy.ndarray): Shape (B, T, max_chars), int64, T the longest Doc.
    """
    arrays: List[numpy.ndarray] = [doc_char_ids(doc, max_chars, rows) for doc in docs]
    T = max((len(a) for a in arrays), default=0)
    out = numpy.zeros((len(arrays), T, max_chars), dtype="int64")
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out
