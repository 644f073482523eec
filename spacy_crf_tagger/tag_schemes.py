"""Entity tag schemes (BILUO, BIO): tag names, which transitions are valid, and the
conversion between tag sequences and spans.

BILUO: ``B-X`` begins, ``I-X`` continues, ``L-X`` ends a multi-token entity, ``U-X``
is a one-token entity, ``O`` is outside. BIO: ``B-X`` begins, ``I-X`` continues.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy

SCHEMES: Dict[str, Tuple[str, ...]] = {"BILUO": ("B", "I", "L", "U"), "BIO": ("B", "I")}
OUT = "O"


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"Unknown tag scheme {scheme!r}: expected one of {sorted(SCHEMES)}.")
    return scheme


def tag_names(labels: Sequence[str], scheme: str) -> List[str]:
    """All tags of a scheme for the entity labels: "O", then each label's tags."""
    prefixes = SCHEMES[check_scheme(scheme)]
    return [OUT] + [f"{prefix}-{label}" for label in labels for prefix in prefixes]


def split_tag(tag: str) -> Tuple[str, Optional[str]]:
    """ "B-PER" -> ("B", "PER"); "O" -> ("O", None)."""
    if tag == OUT:
        return OUT, None
    prefix, _, label = tag.partition("-")
    return prefix, label


def _opens(prefix: str, scheme: str) -> bool:
    """Can a tag with this prefix come where no entity is open?"""
    return prefix in ((OUT, "B", "U") if scheme == "BILUO" else (OUT, "B"))


def _leaves_open(prefix: str, scheme: str) -> bool:
    """Does an entity stay open after a tag with this prefix (so only its
    continuation may follow)?"""
    return prefix in (("B", "I") if scheme == "BILUO" else ())


def is_allowed(prev: Optional[str], tag: Optional[str], scheme: str) -> bool:
    """May ``tag`` follow ``prev``? ``prev=None`` is the sequence start and
    ``tag=None`` its end."""
    if prev is None and tag is None:
        return True
    if prev is None:
        return _opens(split_tag(tag)[0], scheme)
    p_prefix, p_label = split_tag(prev)
    if tag is None:
        return not _leaves_open(p_prefix, scheme)
    prefix, label = split_tag(tag)
    if scheme == "BILUO":
        if _leaves_open(p_prefix, scheme):
            return prefix in ("I", "L") and label == p_label
        return _opens(prefix, scheme)
    # BIO: I-X continues a B-X or I-X of the same label; anything else may start.
    if prefix == "I":
        return p_prefix in ("B", "I") and p_label == label
    return True


def allowed_transitions(tags: Sequence[str], scheme: str) -> Tuple[list, list, list]:
    """Masks for ``LinearChainCRF.set_constraints``.

    RETURNS (Tuple[list, list, list]): allowed (K x K), allowed_start (K),
        allowed_end (K), as nested lists of bools.
    """
    check_scheme(scheme)
    allowed = [[is_allowed(a, b, scheme) for b in tags] for a in tags]
    start = [is_allowed(None, t, scheme) for t in tags]
    end = [is_allowed(t, None, scheme) for t in tags]
    return allowed, start, end


def is_valid(tags: Sequence[str], scheme: str) -> bool:
    """Is a whole tag sequence valid under the scheme?"""
    seq: List[Optional[str]] = [None, *tags, None]
    return all(is_allowed(a, b, scheme) for a, b in zip(seq, seq[1:]) if not (a is None and b is None))


def first_unreachable(
    tag_ids: numpy.ndarray,
    allowed: numpy.ndarray,
    allowed_start: numpy.ndarray,
    allowed_end: numpy.ndarray,
    missing: int = -1,
) -> Optional[int]:
    """Check partially known gold tags against transition constraints.

    tag_ids (numpy.ndarray): Shape (T,), tag ids, ``missing`` where unknown (any tag).
    allowed (numpy.ndarray): Shape (K, K), bool; allowed_start, allowed_end: shape (K,).
    RETURNS (Optional[int]): None if some allowed sequence agrees with every known
        tag; otherwise the first known position no allowed sequence can reach with
        its tag (T when the sequence cannot end).
    """
    tag_ids = numpy.asarray(tag_ids, dtype="int64")
    T = len(tag_ids)
    if T == 0:
        return None
    pos = numpy.flatnonzero(tag_ids != missing)
    # Stretches of unknown tags: can tag b be reached from tag a in d steps? The
    # reachability matrices of 0, 1, 2, ... steps, until they stop changing.
    gaps = numpy.diff(pos)
    longest = int(max(gaps.max(initial=0), pos[0] if pos.size else T - 1, T - 1 - pos[-1] if pos.size else 0))
    reach = [numpy.eye(len(allowed_start), dtype=bool)]
    while len(reach) <= longest:
        nxt = (reach[-1].astype("int64") @ allowed.astype("int64")) > 0
        if (nxt == reach[-1]).all():
            break
        reach.append(nxt)
    steps = numpy.stack(reach)

    def within(d):
        return steps[numpy.minimum(d, len(reach) - 1)]

    if pos.size == 0:
        return None if (allowed_start @ within(T - 1) @ allowed_end) else 0
    first, last = tag_ids[pos[0]], tag_ids[pos[-1]]
    if not (allowed_start.astype("int64") @ within(pos[0]))[first]:
        return int(pos[0])
    ok = steps[numpy.minimum(gaps, len(reach) - 1), tag_ids[pos[:-1]], tag_ids[pos[1:]]]
    if not ok.all():
        return int(pos[1:][~ok][0])
    return None if (within(T - 1 - pos[-1]).astype("int64") @ allowed_end)[last] else T


def tags_to_spans(tags: Sequence[str], scheme: str) -> List[Tuple[int, int, str]]:
    """Entity spans of a tag sequence, as (start, end exclusive, label).

    Decoding guarantees valid sequences; an invalid one is still read without losing
    an entity: a continuation tag with no open entity starts one.
    """
    spans = []
    open_start, open_label = None, None

    def close(end: int) -> None:
        nonlocal open_start, open_label
        if open_start is not None:
            spans.append((open_start, end, open_label))
        open_start, open_label = None, None

    for i, tag in enumerate(tags):
        prefix, label = split_tag(tag)
        if prefix == OUT:
            close(i)
        elif prefix in ("B", "U") or label != open_label:
            close(i)
            open_start, open_label = i, label
            if prefix == "U":
                close(i + 1)
        elif prefix == "L":
            close(i + 1)
    close(len(tags))
    return spans


def spans_to_tags(n: int, spans: Sequence[Tuple[int, int, str]], scheme: str) -> List[str]:
    """The tag sequence of non-overlapping spans (start, end exclusive, label)."""
    check_scheme(scheme)
    tags = [OUT] * n
    for start, end, label in spans:
        if scheme == "BILUO" and end - start == 1:
            tags[start] = f"U-{label}"
            continue
        tags[start] = f"B-{label}"
        for i in range(start + 1, end):
            tags[i] = f"I-{label}"
        if scheme == "BILUO":
            tags[end - 1] = f"L-{label}"
    return tags


def biluo_to_scheme(tag: str, scheme: str) -> str:
    """Map a BILUO tag (as spaCy's alignment gives) to ``scheme``."""
    if scheme == "BILUO" or tag == OUT:
        return tag
    prefix, label = split_tag(tag)
    return f"{'B' if prefix in ('B', 'U') else 'I'}-{label}"
