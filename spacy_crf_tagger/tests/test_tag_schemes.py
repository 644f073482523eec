"""BILUO/BIO constraints: decoding never produces an invalid sequence, and tags <-> spans
round trips lose nothing."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.training import biluo_tags_to_spans, iob_to_biluo

import spacy
from spacy_crf_tagger import tag_schemes
from spacy_crf_tagger.models.pytorch import crf
from spacy_crf_tagger.models.pytorch.crf import CRFPotentials, LinearChainCRF

LABELS = ["LOC", "PER"]


def test_tag_names():
    assert tag_schemes.tag_names(["PER"], "BILUO") == ["O", "B-PER", "I-PER", "L-PER", "U-PER"]
    assert tag_schemes.tag_names(["PER"], "BIO") == ["O", "B-PER", "I-PER"]
    with pytest.raises(ValueError, match="Unknown tag scheme 'IOBES': expected one of \\['BILUO', 'BIO'\\]"):
        tag_schemes.tag_names(["PER"], "IOBES")


def test_allowed_transitions_biluo():
    tags = tag_schemes.tag_names(["X", "Y"], "BILUO")
    allowed, start, end = tag_schemes.allowed_transitions(tags, "BILUO")
    ok = {(a, b) for i, a in enumerate(tags) for j, b in enumerate(tags) if allowed[i][j]}
    assert ("O", "I-X") not in ok and ("B-X", "I-Y") not in ok and ("B-X", "O") not in ok
    assert ("B-X", "I-X") in ok and ("I-X", "L-X") in ok and ("L-X", "B-Y") in ok and ("U-X", "U-X") in ok
    assert [t for t, s in zip(tags, start) if s] == ["O", "B-X", "U-X", "B-Y", "U-Y"]
    assert [t for t, e in zip(tags, end) if e] == ["O", "L-X", "U-X", "L-Y", "U-Y"]


def test_allowed_transitions_bio():
    tags = tag_schemes.tag_names(["X", "Y"], "BIO")
    allowed, start, end = tag_schemes.allowed_transitions(tags, "BIO")
    ok = {(a, b) for i, a in enumerate(tags) for j, b in enumerate(tags) if allowed[i][j]}
    assert ("O", "I-X") not in ok and ("B-X", "I-Y") not in ok and ("I-Y", "I-X") not in ok
    assert ("B-X", "I-X") in ok and ("I-X", "I-X") in ok and ("I-X", "B-X") in ok and ("B-X", "O") in ok
    assert [t for t, s in zip(tags, start) if s] == ["O", "B-X", "B-Y"]
    assert all(end)


def constrained_potentials(scheme, B, T, seed, scale):
    tags = tag_schemes.tag_names(LABELS, scheme)
    layer = LinearChainCRF(len(tags))
    layer.set_constraints(*(torch.tensor(m) for m in tag_schemes.allowed_transitions(tags, scheme)))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.transitions.normal_(0, scale, generator=g)
        layer.start.normal_(0, scale, generator=g)
        layer.end.normal_(0, scale, generator=g)
        A, s, e = layer()
    E = torch.randn(B, T, len(tags), generator=g) * scale
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    return tags, CRFPotentials(E, mask, A, s, e), lengths


@settings(max_examples=60, deadline=None)
@given(
    scheme=st.sampled_from(["BILUO", "BIO"]),
    B=st.integers(1, 4),
    T=st.integers(1, 12),
    seed=st.integers(0, 100_000),
    scale=st.sampled_from([0.1, 1.0, 10.0, 100.0]),
)
def test_decoding_never_produces_invalid_sequences(scheme, B, T, seed, scale):
    tags, p, lengths = constrained_potentials(scheme, B, T, seed, scale)
    best, _ = crf.viterbi_decode(p)
    kbest, kscores = crf.kbest_viterbi(p, 4)
    for b in range(B):
        n = int(lengths[b])
        assert tag_schemes.is_valid([tags[i] for i in best[b, :n]], scheme)
        for r in range(4):
            if torch.isfinite(kscores[b, r]):
                assert tag_schemes.is_valid([tags[i] for i in kbest[b, r, :n]], scheme)


@st.composite
def span_sets(draw):
    n = draw(st.integers(0, 15))
    spans, i = [], 0
    while i < n:
        if draw(st.booleans()):
            length = draw(st.integers(1, n - i))
            spans.append((i, i + length, draw(st.sampled_from(LABELS))))
            i += length
        else:
            i += 1
    return n, spans


@settings(max_examples=100, deadline=None)
@given(data=span_sets(), scheme=st.sampled_from(["BILUO", "BIO"]))
def test_tags_spans_round_trip(data, scheme):
    n, spans = data
    tags = tag_schemes.spans_to_tags(n, spans, scheme)
    assert tag_schemes.is_valid(tags, scheme)
    assert tag_schemes.tags_to_spans(tags, scheme) == spans
    # and agrees with spaCy's own reading of the same tags
    doc = spacy.blank("en").make_doc(" ".join(["w"] * n)) if n else None
    if doc is not None:
        biluo = tags if scheme == "BILUO" else iob_to_biluo(tags)
        assert [(s.start, s.end, s.label_) for s in biluo_tags_to_spans(doc, biluo)] == spans


def test_invalid_sequences_are_read_without_losing_entities():
    assert tag_schemes.tags_to_spans(["O", "I-PER", "L-PER"], "BILUO") == [(1, 3, "PER")]
    assert tag_schemes.tags_to_spans(["B-PER", "I-LOC"], "BIO") == [(0, 1, "PER"), (1, 2, "LOC")]
    assert tag_schemes.tags_to_spans(["B-PER", "O"], "BILUO") == [(0, 1, "PER")]


@pytest.mark.parametrize("scheme", ["BILUO", "BIO"])
def test_first_unreachable_agrees_with_enumeration(scheme):
    """Partially known gold (-1 = unknown) is usable iff some valid sequence agrees
    with it; checked against every completion for all gold sequences up to length 3."""
    import itertools

    import numpy

    tags = tag_schemes.tag_names(["X", "Y"], scheme)
    masks = [numpy.asarray(m, dtype=bool) for m in tag_schemes.allowed_transitions(tags, scheme)]
    K = len(tags)
    for T in range(1, 4):
        complete = [seq for seq in itertools.product(range(K), repeat=T) if tag_schemes.is_valid([tags[i] for i in seq], scheme)]
        for gold in itertools.product(range(-1, K), repeat=T):
            agrees = any(all(g in (-1, c) for g, c in zip(gold, seq)) for seq in complete)
            found = tag_schemes.first_unreachable(numpy.asarray(gold), *masks)
            assert (found is None) == agrees, (gold, found)
    i = {t: n for n, t in enumerate(tags)}
    if scheme == "BILUO":
        assert tag_schemes.first_unreachable(numpy.asarray([i["O"], i["I-X"], i["L-X"]]), *masks) == 1
        assert tag_schemes.first_unreachable(numpy.asarray([i["B-X"], -1, -1]), *masks) is None
        assert tag_schemes.first_unreachable(numpy.asarray([i["B-X"]]), *masks) == 1  # cannot end
        assert tag_schemes.first_unreachable(numpy.asarray([i["I-X"], -1, -1, i["I-Y"]]), *masks) == 0
        assert tag_schemes.first_unreachable(numpy.asarray([-1, i["I-X"], -1, i["I-Y"]]), *masks) == 3
