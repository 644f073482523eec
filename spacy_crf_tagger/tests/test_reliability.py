"""The bad-input matrix: what production text, imperfect training data, multiple
processes and saved models do to ``crf_tagger`` and ``crf_ner``.

Every case either gives annotations (or an empty result) or a clear error that says
what to fix; none may crash inside torch or lose annotation silently.
"""
import pickle
import subprocess
import sys

import numpy
import pytest
import spacy
import srsly
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.attrs import ENT_IOB, ENT_TYPE
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import Adam

from spacy_crf_tagger.data_checks import check_component
from spacy_crf_tagger.pipeline.base import FORMAT_VERSION
from spacy_crf_tagger.pipeline.batching import length_buckets

from .pipeline.util import LISTENER, SHARED_TOK2VEC, TAGGED, small_model

# Hand-written sentences (not from any corpus): PTB tags and BILUO entities.
DATA = [
    ("Anna Smith visited Paris", ["NNP", "NNP", "VBD", "NNP"], ["B-PER", "L-PER", "O", "U-LOC"]),
    ("Bob works at Acme Corp", ["NNP", "VBZ", "IN", "NNP", "NNP"], ["U-PER", "O", "O", "B-ORG", "L-ORG"]),
    ("Dogs bark", ["NNS", "VBP"], ["O", "O"]),
]


def both_nlp() -> spacy.Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_tagger", config={"model": small_model()})
    nlp.add_pipe("crf_ner", config={"model": small_model()})
    return nlp


def examples(nlp, data=DATA):
    return [
        Example.from_dict(nlp.make_doc(text), {"tags": tags, "entities": ents}) for text, tags, ents in data
    ]


@pytest.fixture(scope="module")
def nlp():
    nlp = both_nlp()
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    optimizer = Adam(0.01)
    for _ in range(30):
        nlp.update(egs, sgd=optimizer)
    return nlp


def annotations(doc: Doc, digits: int = 5):
    group = doc.spans["crf_ner"]
    return (
        [t.tag_ for t in doc],
        [(e.start, e.end, e.label_) for e in doc.ents],
        [(s.start, s.end, s.label_) for s in group],
        [round(float(p), digits) for p in group.attrs["scores"]],
    )


def assert_same_annotations(got, expected) -> None:
    """Same tags, entities and spans; probabilities equal up to float rounding (other
    batches pad differently, which moves them by up to ~2e-6 in float32)."""
    assert [a[:3] for a in got] == [a[:3] for a in expected]
    for a, b in zip(got, expected):
        assert a[3] == pytest.approx(b[3], abs=1e-5)


def check_annotated(doc: Doc) -> None:
    tags, ents, spans, scores = annotations(doc)
    assert len(tags) == len(doc) and all(tags)
    assert len(scores) == len(spans) and all(0.0 <= p <= 1.0 for p in scores)
    assert set(ents) <= set(spans)
    for start, end, _ in spans:
        assert 0 <= start < end <= len(doc)


# -- inference inputs ---------------------------------------------------------------

TEXTS = {
    "empty": "",
    "whitespace only": " \n\t  \n",
    "one token": "Paris",
    "emoji": "I ❤️ 🍕 and 👩‍👩‍👧 🇫🇷!",
    "CJK": "我爱北京天安门。東京と서울",
    "right-to-left": "שלום עולם مرحبا بالعالم",
    "combining marks": "e\u0301te\u0301 Z\u0351\u0352\u0353a\u0308",
    "control characters": "a\x00b \x07 \x1b[31m red\x1b[0m \u200b\ufeff \x7f",
    "5,000-character word": "see https://example.com/" + "a" * 5000 + " now",
    "unseen tokens": "Zyxqv Blorptown quuxed 12,345.67 km²",
}


@pytest.mark.parametrize("case", list(TEXTS))
def test_inference_input(nlp, case):
    doc = nlp(TEXTS[case])
    check_annotated(doc)
    if len(doc) == 0:
        assert doc.ents == () and len(doc.spans["crf_ner"]) == 0


def test_docs_with_whitespace_tokens(nlp):
    doc = Doc(nlp.vocab, words=[" ", "\t", "Paris", "\n"], spaces=[False, False, True, False])
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    check_annotated(doc)


def test_long_doc_and_mixed_batch(nlp):
    long_text = " ".join(["Anna visited Paris ."] * 5000)  # 20,000 tokens
    texts = ["", long_text, "", "Bob works at Acme Corp", " ", "Dogs bark"]
    one_by_one = [annotations(nlp(t), digits=12) for t in texts]
    batched = [annotations(d, digits=12) for d in nlp.pipe(texts, batch_size=len(texts))]
    assert_same_annotations(batched, one_by_one)
    assert len(one_by_one[1][0]) == 20000


def test_length_groups_bound_the_padding():
    lengths = [0, 20000, 3, 0, 5, 5, 7, 1]
    groups = length_buckets(lengths, max_padded_tokens=12)
    assert sorted(i for g in groups for i in g) == [1, 2, 4, 5, 6, 7]  # empty docs left out
    for group in groups:
        assert len(group) == 1 or len(group) * max(lengths[i] for i in group) <= 12
    assert [1] in groups  # longer than the budget: alone
    with pytest.raises(ValueError, match="Expected max_padded_tokens >= 1, got 0"):
        length_buckets(lengths, 0)


def test_grouping_does_not_change_predictions(nlp, monkeypatch):
    texts = ["Anna Smith visited Paris today", "Bob", "Dogs bark at Acme Corp in Paris", "", "Anna"]
    whole = [annotations(d, digits=12) for d in nlp.pipe(texts)]
    for name in ("crf_tagger", "crf_ner"):
        monkeypatch.setattr(nlp.get_pipe(name), "max_padded_tokens", 1)
    assert_same_annotations([annotations(d, digits=12) for d in nlp.pipe(texts)], whole)


def test_kbest_with_empty_and_grouped_docs(nlp):
    ner = nlp.get_pipe("crf_ner")
    docs = [nlp.make_doc(t) for t in ["", "Anna Smith visited Paris", "Bob"]]
    result = ner.kbest(docs, k=3)
    assert result[0] == [([], 1.0)]
    assert all(1 <= len(r) <= 3 for r in result[1:])


UNICODE_TOKEN = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12
).filter(lambda s: not s.isspace())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(UNICODE_TOKEN, min_size=0, max_size=40), min_size=1, max_size=6))
def test_random_unicode_docs_through_pipe(nlp, batch):
    docs = [Doc(nlp.vocab, words=words) for words in batch]
    out = list(nlp.pipe(docs, batch_size=4))
    assert [len(d) for d in out] == [len(w) for w in batch]
    for doc in out:
        check_annotated(doc)


# -- training data --------------------------------------------------------------------


def test_labels_only_in_dev_are_scored_as_misses_and_reported(nlp):
    dev = examples(nlp, [("Bob met Zed", ["NNP", "VBD", "NNP"], ["U-PER", "O", "U-ALIEN"])])
    scores = nlp.evaluate(dev)
    assert scores["ents_per_type"]["ALIEN"]["r"] == 0.0
    report = check_component(both_nlp().get_pipe("crf_ner"), examples(nlp), dev)
    assert any("Labels in dev but not in train: ALIEN (1)" in w for w in report.warnings)
    assert not report.errors


def test_invalid_iob_becomes_a_new_entity_as_spacy_converts_it(tmp_path):
    # IOB2 data with an error: I-PER right after O starts an entity (IOB1 reading).
    src = tmp_path / "train.iob"
    src.write_text("Anna NNP I-NP O\nSmith NNP I-NP I-PER\nsang VBD I-VP O\n\n", encoding="utf8")
    subprocess.run(
        [sys.executable, "-m", "spacy", "convert", str(src), str(tmp_path), "-c", "ner"],
        check=True,
        capture_output=True,
    )
    doc = next(DocBin().from_disk(tmp_path / "train.spacy").get_docs(spacy.blank("en").vocab))
    assert [(e.text, e.label_) for e in doc.ents] == [("Smith", "PER")]


def test_invalid_bilou_in_code_is_rejected_by_spacy():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="E067"):
        Example.from_dict(nlp.make_doc("a b"), {"entities": ["O", "I-PER"]})


def test_impossible_gold_from_arrays_names_the_document(nlp):
    """spaCy validates entity tags set through ``Doc.ents`` and ``Example.from_dict``,
    but ``Doc.from_array`` writes any ENT_IOB codes: an I after an O reaches us."""
    good = examples(nlp)[0]
    words, spaces = [t.text for t in good.reference], [bool(t.whitespace_) for t in good.reference]
    reference = Doc(nlp.vocab, words=words, spaces=spaces)
    per = nlp.vocab.strings.add("PER")
    reference.from_array([ENT_IOB, ENT_TYPE], numpy.array([[2, 0], [1, per], [2, 0], [2, 0]], dtype="uint64"))
    eg = Example(good.predicted, reference)
    with pytest.raises(ValueError, match=r"gold entity tags of 'Anna Smith visited Paris' \(4 tokens\) cannot be a valid BILUO sequence at token 1"):
        nlp.get_pipe("crf_ner")._gold_tags(eg)


def test_misaligned_tokenisation_is_marginalised_and_reported():
    nlp = both_nlp()
    reference = Doc(nlp.vocab, words=["New", "York", "City", "is", "big"], ents=["B-LOC", "I-LOC", "I-LOC", "O", "O"])
    misaligned = Example(Doc(nlp.vocab, words=["New", "York", "Cityis", "big"]), reference)
    egs = examples(nlp) + [misaligned]
    report = check_component(nlp.get_pipe("crf_ner"), egs, [])
    assert any("1 gold entities do not line up" in w for w in report.warnings)
    nlp.initialize(lambda: egs)
    losses = nlp.update(egs, sgd=Adam(0.01))
    assert all(numpy.isfinite(v) for v in losses.values())


def test_docs_with_all_annotation_missing_train_and_are_reported():
    nlp = both_nlp()
    blank = Example(nlp.make_doc("Nothing is annotated here"), Doc(nlp.vocab, words=["Nothing", "is", "annotated", "here"]))
    egs = examples(nlp) + [blank]
    for name in ("crf_tagger", "crf_ner"):
        report = check_component(both_nlp().get_pipe(name), egs, [])
        assert any("1 training document(s) have no" in w for w in report.warnings), name
    nlp.initialize(lambda: egs)
    tagger = nlp.get_pipe("crf_tagger")
    loss, _ = tagger.get_loss([blank], tagger.model.predict([blank.predicted]))
    assert loss == pytest.approx(0.0, abs=1e-5)
    assert all(numpy.isfinite(v) for v in nlp.update(egs, sgd=Adam(0.01)).values())


def test_empty_training_corpus():
    nlp = both_nlp()
    with pytest.raises(ValueError, match="Cannot initialise 'crf_tagger': the training corpus gave no examples"):
        nlp.initialize(lambda: iter([]))
    report = check_component(nlp.get_pipe("crf_ner"), [], [])
    assert report.errors == ["The training corpus is empty: check [paths] train."]


@pytest.mark.parametrize("drop", [-0.1, 1.0, 100000.1, float("nan")])
def test_dropout_outside_zero_one_is_rejected(drop):
    nlp = both_nlp()
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    before = nlp.get_pipe("crf_tagger").model.to_bytes()
    with pytest.raises(ValueError, match=r"Expected a dropout rate in \[0, 1\) for 'crf_tagger', got .*\[training\] dropout"):
        nlp.update(egs, drop=drop, sgd=Adam(0.01))
    assert nlp.get_pipe("crf_tagger").model.to_bytes() == before


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_names_the_documents(bad):
    nlp = both_nlp()
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    tagger = nlp.get_pipe("crf_tagger")
    scores = tagger.model.predict([eg.predicted for eg in egs])
    scores.potentials.emissions[1, 0, 0] = bad
    with pytest.raises(ValueError, match=r"E910.*Non-finite loss for 1 document\(s\): 'Bob works at Acme Corp'"):
        tagger.get_loss(egs, scores)


# -- the data-check command -------------------------------------------------------------


def _write(path, docs):
    DocBin(docs=docs).to_disk(path)
    return path


def test_debug_crf_data_command(tmp_path):
    nlp = spacy.blank("en")
    good = [eg.reference for eg in examples(nlp)]
    dev = Doc(nlp.vocab, words=["Zed", "sang"], ents=["B-ALIEN", "O"])
    train = _write(tmp_path / "train.spacy", good + [Doc(nlp.vocab, words=["w"] * 60)])
    dev_path = _write(tmp_path / "dev.spacy", [dev])
    empty = _write(tmp_path / "empty.spacy", [])
    config = "configs/ner.cfg"

    def run(train_path):
        return subprocess.run(
            [sys.executable, "-m", "spacy", "debug", "crf-data", config, "--paths.train", str(train_path),
             "--paths.dev", str(dev_path), "--long-doc-tokens", "50"],
            capture_output=True, text=True,
        )

    ok = run(train)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for expected in ("Labels in dev but not in train: ALIEN (1)", "have more than 50 tokens",
                     "have no entity annotation", "No errors"):
        assert expected in ok.stdout
    failed = run(empty)
    assert failed.returncode == 1
    assert "The training corpus is empty" in failed.stdout


# -- processes and state --------------------------------------------------------------------


TEXTS_FOR_PROCESSES = [t for t, _, _ in DATA] + ["Anna works in Paris", "", "Bob visited Acme Corp"] * 3


def test_n_process_gives_the_same_output(nlp):
    single = [annotations(d, digits=12) for d in nlp.pipe(TEXTS_FOR_PROCESSES)]
    multi = [annotations(d, digits=12) for d in nlp.pipe(TEXTS_FOR_PROCESSES, n_process=2, batch_size=2)]
    assert_same_annotations(multi, single)


def test_pipeline_pickles(nlp):
    copy = pickle.loads(pickle.dumps(nlp))
    assert [annotations(d) for d in copy.pipe(TEXTS_FOR_PROCESSES)] == [
        annotations(d) for d in nlp.pipe(TEXTS_FOR_PROCESSES)
    ]


def test_nlp_bytes_round_trip(nlp):
    copy = spacy.util.load_model_from_config(nlp.config, auto_fill=True)
    copy.from_bytes(nlp.to_bytes())
    assert [annotations(d) for d in copy.pipe(TEXTS_FOR_PROCESSES)] == [
        annotations(d) for d in nlp.pipe(TEXTS_FOR_PROCESSES)
    ]


def test_two_components_sharing_a_tok2vec_train_and_reload(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec", config={"model": SHARED_TOK2VEC})
    nlp.add_pipe("crf_tagger", config={"model": small_model(tok2vec=LISTENER)})
    nlp.add_pipe("crf_ner", config={"model": small_model(tok2vec=LISTENER)})
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    optimizer = Adam(0.01)
    for _ in range(40):
        nlp.update(egs, sgd=optimizer)
    scores = nlp.evaluate(egs)
    assert scores["tag_acc"] >= 0.9 and scores["ents_f"] >= 0.9
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    texts = [t for t, _, _ in DATA]
    assert [annotations(d) for d in loaded.pipe(texts)] == [annotations(d) for d in nlp.pipe(texts)]


def _saved(nlp, tmp_path):
    path = tmp_path / "model"
    nlp.to_disk(path)
    return path


def test_loading_a_different_label_set_into_a_built_component_fails_clearly(nlp, tmp_path):
    path = _saved(nlp, tmp_path)
    other = both_nlp()
    egs = examples(other, [("Anna sang", ["NNP", "VBD"], ["U-PER", "O"])])
    other.initialize(lambda: egs)
    with pytest.raises(ValueError, match=r"Cannot load 'crf_ner' from .*saved with labels \['LOC', 'ORG', 'PER'\] \(13 tags\), but this component's network is already built for 5 tags"):
        other.get_pipe("crf_ner").from_disk(path / "crf_ner")


def test_loading_weights_into_a_different_architecture_fails_clearly(nlp, tmp_path):
    path = _saved(nlp, tmp_path)
    with pytest.raises(ValueError, match=r"Cannot load 'crf_tagger' from .*different architecture than the config describes \(encoder: saved .*'hidden_size': 16.*'hidden_size': 8"):
        spacy.load(path, config={"components": {"crf_tagger": {"model": {"encoder": {"hidden_size": 8}}}}})


def test_loading_a_newer_format_fails_clearly(nlp, tmp_path):
    path = _saved(nlp, tmp_path)
    cfg = srsly.read_json(path / "crf_ner" / "cfg")
    cfg["format_version"] = FORMAT_VERSION + 1
    srsly.write_json(path / "crf_ner" / "cfg", cfg)
    with pytest.raises(ValueError, match=f"saved by a newer spacy-crf-tagger \\(format version {FORMAT_VERSION + 1}\\)"):
        spacy.load(path)


def test_weights_that_do_not_fit_fail_clearly(nlp, tmp_path):
    path = _saved(nlp, tmp_path)
    cfg = srsly.read_json(path / "crf_tagger" / "cfg")
    del cfg["net"]  # as in a model saved before the architecture was recorded
    srsly.write_json(path / "crf_tagger" / "cfg", cfg)
    with pytest.raises(ValueError, match="Cannot load the weights of 'crf_tagger' from .*do not fit the model built from the config"):
        spacy.load(path, config={"components": {"crf_tagger": {"model": {"encoder": {"hidden_size": 8}}}}})


def test_tagged_data_still_round_trips_through_docbin(nlp):
    docs = list(nlp.pipe([t for t, _ in TAGGED]))
    restored = list(DocBin(docs=docs, store_user_data=True).get_docs(nlp.vocab))
    assert [[t.tag_ for t in d] for d in restored] == [[t.tag_ for t in d] for d in docs]
