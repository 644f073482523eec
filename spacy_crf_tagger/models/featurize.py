"""Turn Docs into the integer arrays the network reads.

The character CNN sees each distinct spelling of a batch once: running text repeats
most of its words, and a token's characters are read through its ORTH id, so no Python
object is made per token. Character ids of a spelling are cached (bounded), keyed by
the settings that shape them.
"""
from typing import Dict, Sequence, Tuple

import numpy
from spacy.attrs import ORTH
from spacy.tokens import Doc

# Spellings whose character ids are kept between batches; cleared when full.
CACHE_SIZE = 1 << 18
_cache: Dict[Tuple[int, int, int], numpy.ndarray] = {}


def spelling_char_ids(text: str, max_chars: int, rows: int) -> numpy.ndarray:
    """Hashed character ids of one spelling, right-padded with 0.

    A spelling longer than ``max_chars`` is read as its first ``max_chars // 2`` and
    last ``max_chars - max_chars // 2`` characters.

    RETURNS (numpy.ndarray): Shape (max_chars,), int64; 0 is padding.
    """
    if len(text) > max_chars:
        head = max_chars // 2
        text = text[:head] + text[len(text) - (max_chars - head) :]
    codepoints = numpy.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="uint32")
    ids = numpy.zeros((max_chars,), dtype="int64")
    ids[: len(codepoints)] = 1 + codepoints.astype("int64") % (rows - 1)
    return ids


def batch_char_ids(docs: Sequence[Doc], max_chars: int, rows: int) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Character ids of the distinct spellings of a batch, and where each token's is.

    RETURNS (Tuple[numpy.ndarray, numpy.ndarray]): ``spellings`` of shape
        (U, max_chars), int64, 0 = padding, and ``index`` of shape (B, T), int64: the
        row of ``spellings`` of each token; -1 on padding (T the longest Doc).
    """
    T = max((len(doc) for doc in docs), default=0)
    orths = [doc.to_array(ORTH).astype("uint64") for doc in docs]
    flat = numpy.concatenate(orths) if orths else numpy.zeros((0,), dtype="uint64")
    unique, inverse = numpy.unique(flat, return_inverse=True)
    if len(_cache) > CACHE_SIZE:
        _cache.clear()
    strings = docs[0].vocab.strings if docs else None
    spellings = numpy.zeros((len(unique), max_chars), dtype="int64")
    for row, orth in enumerate(unique.tolist()):
        key = (orth, max_chars, rows)
        ids = _cache.get(key)
        if ids is None:
            ids = _cache[key] = spelling_char_ids(strings[orth], max_chars, rows)
        spellings[row] = ids
    index = numpy.full((len(docs), T), -1, dtype="int64")
    start = 0
    for i, doc_orths in enumerate(orths):
        index[i, : len(doc_orths)] = inverse[start : start + len(doc_orths)]
        start += len(doc_orths)
    return spellings, index
