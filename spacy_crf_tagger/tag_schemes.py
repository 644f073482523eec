"""Entity tag schemes (BILUO, BIO): tag names, which transitions are valid, and the
conversion between tag sequences and spans.

BILUO: ``B-X`` begins, ``I-X`` continues, ``L-X`` ends a multi-token entity, ``U-X``
is a one-token entity, ``O`` is outside. BIO: ``B-X`` begins, ``I-X`` continues.
"""
from typing import Dict, List, Optional, Sequence, Tuple

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
