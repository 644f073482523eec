"""The gold read straight from the reference when both Docs have the same tokens is
exactly what spaCy's alignment gives."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.vocab import Vocab

from spacy_crf_tagger.pipeline.gold import aligned_ner, aligned_strings, has_same_tokens

WORDS = ["Anna", "lives", "in", "New", "York", " ", "and", "Paris", "."]
LABELS = ["PER", "LOC"]


@st.composite
def annotated_docs(draw):
    """A Doc with random entities, and random stretches marked missing or outside."""
    vocab = Vocab()
    words = draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=12))
    doc = Doc(vocab, words=words, spaces=[w != " " for w in words])
    n = len(doc)
    cuts = sorted(set(draw(st.lists(st.integers(0, n), max_size=8))) | {0, n})
    spans = {"ents": [], "missing": [], "outside": []}
    for start, end in zip(cuts, cuts[1:]):
        kind = draw(st.sampled_from(["ents", "missing", "outside", "none"]))
        if kind == "ents":
            spans["ents"].append(Span(doc, start, end, label=draw(st.sampled_from(LABELS))))
        elif kind != "none":
            spans[kind].append(Span(doc, start, end))
    default = draw(st.sampled_from(["outside", "missing", "unmodified"]))
    doc.set_ents(spans["ents"], missing=spans["missing"], outside=spans["outside"], default=default)
    return doc


@settings(max_examples=300, deadline=None)
@given(annotated_docs())
def test_aligned_ner_equals_spacy_alignment(reference):
    predicted = Doc(reference.vocab, words=[t.text for t in reference], spaces=[bool(t.whitespace_) for t in reference])
    example = Example(predicted, reference)
    assert has_same_tokens(example)
    assert aligned_ner(example) == example.get_aligned_ner()


def test_aligned_ner_without_entity_annotation_is_all_unknown():
    vocab = Vocab()
    words = ["Anna", " ", "sings"]
    reference = Doc(vocab, words=words, spaces=[True, False, False])
    example = Example(Doc(vocab, words=words, spaces=[True, False, False]), reference)
    assert aligned_ner(example) == [None, None, None] == example.get_aligned_ner()


def test_aligned_ner_with_other_tokens_uses_the_alignment():
    vocab = Vocab()
    reference = Doc(vocab, words=["New", "York", "-", "based", "firm"], spaces=[True, False, False, True, False])
    reference.ents = [Span(reference, 0, 2, label="LOC")]
    predicted = Doc(vocab, words=["New", "York-based", "firm"], spaces=[True, True, False])
    example = Example(predicted, reference)
    assert not has_same_tokens(example)
    assert aligned_ner(example) == example.get_aligned_ner() == [None, None, "O"]


@pytest.mark.parametrize(
    "attr,values",
    [("TAG", ["NNP", "", "VBZ"]), ("TAG", ["", "", ""]), ("POS", ["PROPN", "", "VERB"]), ("POS", ["", "", ""])],
)
def test_aligned_strings_equals_spacy_alignment(attr, values):
    vocab = Vocab()
    words = ["Anna", "really", "sings"]
    reference = Doc(vocab, words=words)
    for token, value in zip(reference, values):
        setattr(token, f"{attr.lower()}_", value)
    example = Example(Doc(vocab, words=words), reference)
    assert has_same_tokens(example)
    assert aligned_strings(example, attr) == example.get_aligned(attr, as_string=True) == values


def test_aligned_strings_with_other_tokens_uses_the_alignment():
    vocab = Vocab()
    reference = Doc(vocab, words=["can", "not", "stop"], tags=["MD", "RB", "VB"])
    example = Example(Doc(vocab, words=["cannot", "stop"]), reference)
    assert not has_same_tokens(example)
    assert aligned_strings(example, "TAG") == example.get_aligned("TAG", as_string=True) == [None, "VB"]
