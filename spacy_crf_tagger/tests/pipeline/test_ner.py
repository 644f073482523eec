"""spaCy's component battery for crf_ner, plus confidence, k-best and partial annotation."""
import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import make_tempdir

from spacy_crf_tagger import tag_schemes
from spacy_crf_tagger.pipeline.base import MISSING

from .util import ENTITIES, entity_examples, small_model, train

EXPECTED = [[(t.split("-")[1] if "-" in t else None) for t in tags] for _, tags in ENTITIES]


def ner_nlp(**component):
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_ner", config={"model": small_model(), **component})
    return nlp


def ents_of(docs):
    return [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs]


def gold_ents(nlp, data=ENTITIES):
    return [[(e.start, e.end, e.label_) for e in eg.reference.ents] for eg in entity_examples(nlp, data)]


@pytest.mark.parametrize("scheme", ["BILUO", "BIO"])
def test_overfitting_IO(scheme):
    nlp = ner_nlp(scheme=scheme)
    egs = entity_examples(nlp)
    _, losses = train(nlp, egs, steps=80)
    assert losses["crf_ner"] < 0.05
    texts = [t for t, _ in ENTITIES]
    expected = gold_ents(nlp)
    assert ents_of(nlp.pipe(texts)) == expected
    scores = nlp.evaluate(egs)
    assert scores["ents_f"] == 1.0 and set(scores["ents_per_type"]) == {"PER", "LOC", "ORG"}

    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        nlp2 = spacy.load(tmp)
        docs2 = list(nlp2.pipe(texts))
        assert ents_of(docs2) == expected
        # confidence present after spacy.load, one probability per span
        group = docs2[0].spans["crf_ner"]
        assert len(group.attrs["scores"]) == len(group) == len(docs2[0].ents)
        assert all(0.9 < p <= 1.0 for p in group.attrs["scores"])

    single = [ents_of([nlp(t)])[0] for t in texts]
    assert ents_of(nlp.pipe(texts, batch_size=1)) == ents_of(nlp.pipe(texts, batch_size=3)) == single == expected
    nlp3 = ner_nlp(scheme=scheme)
    nlp3.from_bytes(nlp.to_bytes())
    assert ents_of(nlp3.pipe(texts)) == expected


def test_token_annotations_and_span_group_survive_docbin():
    nlp = ner_nlp()
    train(nlp, entity_examples(nlp), steps=60)
    doc = nlp("Anna Smith visited Paris")
    assert [t.ent_iob_ for t in doc] == ["B", "I", "O", "B"]
    assert [t.ent_type_ for t in doc] == ["PER", "PER", "", "LOC"]
    db = DocBin(store_user_data=True)
    db.add(doc)
    doc2 = list(DocBin().from_bytes(db.to_bytes()).get_docs(nlp.vocab))[0]
    assert [s.text for s in doc2.spans["crf_ner"]] == ["Anna Smith", "Paris"]
    assert numpy.allclose(doc2.spans["crf_ner"].attrs["scores"], doc.spans["crf_ner"].attrs["scores"])


def test_threshold_drops_entities_from_ents_but_keeps_them_in_the_group():
    nlp = ner_nlp()
    train(nlp, entity_examples(nlp), steps=60)
    ner = nlp.get_pipe("crf_ner")
    doc = nlp("Anna Smith visited Lagos")
    probs = list(doc.spans["crf_ner"].attrs["scores"])
    assert len(probs) == 2
    ner.cfg["threshold"] = (min(probs) + max(probs)) / 2 if min(probs) < max(probs) else 1.0
    doc = nlp("Anna Smith visited Lagos")
    assert len(doc.spans["crf_ner"]) == 2
    assert len(doc.ents) < 2
    kept = [s for s, p in zip(doc.spans["crf_ner"], doc.spans["crf_ner"].attrs["scores"]) if p >= ner.cfg["threshold"]]
    assert [(e.start, e.end) for e in doc.ents] == [(s.start, s.end) for s in kept]


def test_entity_probabilities_in_a_mixed_batch_equal_the_full_forward_backward():
    """Confidences are computed only over the rows that have entities, cut to their
    length; the values equal those of forward-backward over the whole padded batch."""
    nlp = ner_nlp()
    train(nlp, entity_examples(nlp), steps=60)
    ner = nlp.get_pipe("crf_ner")
    texts = ["Nobody came", "They flew from Lagos to New York City with Anna Smith", "Anna", "Dogs bark"]
    docs = [nlp.make_doc(t) for t in texts]
    prediction = ner.predict(docs)
    out = ner.model.predict(docs)
    best, _ = ner.output_layer.decode(out.potentials)
    for doc_i, ents in enumerate(prediction.entities):
        if not ents:
            continue
        spans = [(doc_i, start, end - 1) for start, end, _, _ in ents]
        expected = ner.output_layer.span_log_probs(out.potentials, best, torch.tensor(spans)).exp()
        assert numpy.allclose([p for *_, p in ents], expected.detach().numpy(), atol=1e-6)
    assert any(prediction.entities) and not all(prediction.entities)


def test_kbest():
    nlp = ner_nlp()
    train(nlp, entity_examples(nlp), steps=60)
    ner = nlp.get_pipe("crf_ner")
    docs = [nlp.make_doc("Anna Smith visited Paris"), nlp.make_doc(""), nlp.make_doc("Bob")]
    result = ner.kbest(docs, k=4)
    assert len(result) == 3
    first = result[0]
    assert 1 <= len(first) <= 4
    probs = [p for _, p in first]
    assert probs == sorted(probs, reverse=True) and all(0.0 < p <= 1.0 for p in probs)
    assert sum(probs) <= 1.0 + 1e-5
    # the best analysis is what the component predicts
    predicted = nlp("Anna Smith visited Paris")
    assert [(s.start, s.end, s.label_) for s in first[0][0]] == ents_of([predicted])[0]
    assert result[1] == [([], 1.0)]
    with pytest.raises(ValueError, match="Expected k >= 1, got 0"):
        ner.kbest(docs, k=0)


def test_every_predicted_sequence_is_valid_even_untrained():
    nlp = ner_nlp()
    train(nlp, entity_examples(nlp), steps=1)
    ner = nlp.get_pipe("crf_ner")
    docs = [nlp.make_doc("a b c d e f g h i j k l"), nlp.make_doc("Paris Paris Paris")]
    for ids in ner.predict(docs).tag_ids:
        assert tag_schemes.is_valid([ner.tag_names[i] for i in ids], "BILUO")


def test_partial_annotation_is_not_taught_as_outside():
    """A document with an entity left unannotated ("-") must not teach O for it."""
    data = [
        ("Anna visited Paris", ["U-PER", "O", "-"]),  # Paris not annotated
        ("Bob visited Paris", ["U-PER", "O", "U-LOC"]),
        ("Carl visited Paris", ["U-PER", "O", "-"]),
        ("Anna met Bob", ["U-PER", "O", "U-PER"]),
    ]
    nlp = ner_nlp()
    egs = entity_examples(nlp, data)
    ner = nlp.get_pipe("crf_ner")
    train(nlp, egs, steps=80)
    assert ner._gold_tags(egs[0]).tolist()[2] == MISSING
    for text in ("Anna visited Paris", "Carl visited Paris"):
        assert ents_of([nlp(text)])[0][-1] == (2, 3, "LOC")


def test_docs_without_any_ner_annotation_are_ignored():
    nlp = ner_nlp()
    egs = entity_examples(nlp)
    train(nlp, egs, steps=2)
    unannotated = Example(nlp.make_doc("Anna visited Paris"), Doc(nlp.vocab, words=["Anna", "visited", "Paris"]))
    ner = nlp.get_pipe("crf_ner")
    assert ner._gold_tags(unannotated).tolist() == [MISSING] * 3
    loss, _ = ner.get_loss([unannotated], ner.model.predict([unannotated.predicted]))
    assert loss == pytest.approx(0.0, abs=1e-4)


def test_iob_and_doc_ents_gold_agree():
    nlp = ner_nlp(scheme="BIO")
    ner = nlp.get_pipe("crf_ner")
    egs = entity_examples(nlp)
    train(nlp, egs, steps=1)
    doc = nlp.make_doc("Anna Smith visited Paris")
    ref = nlp.make_doc("Anna Smith visited Paris")
    ref.ents = [spacy.tokens.Span(ref, 0, 2, "PER"), spacy.tokens.Span(ref, 3, 4, "LOC")]
    ids = ner._gold_tags(Example(doc, ref)).tolist()
    assert [ner.tag_names[i] for i in ids] == ["B-PER", "I-PER", "O", "B-LOC"]


def test_empty_docs():
    nlp = ner_nlp()
    egs = entity_examples(nlp)
    train(nlp, egs, steps=2)
    doc = nlp("")
    assert doc.ents == () and len(doc.spans["crf_ner"]) == 0
    docs = list(nlp.pipe(["", "Anna visited Paris", ""]))
    assert [len(d) for d in docs] == [0, 3, 0]
    assert nlp.update([Example.from_dict(nlp.make_doc(""), {"entities": []})])["crf_ner"] == 0.0


def test_errors():
    with pytest.raises(ValueError, match="Unknown tag scheme 'IOB1'"):
        ner_nlp(scheme="IOB1")
    with pytest.raises(ValueError, match="Expected a threshold between 0 and 1, got 1.5"):
        ner_nlp(threshold=1.5)
    nlp = ner_nlp()
    train(nlp, entity_examples(nlp), steps=1)
    bad = Example.from_dict(nlp.make_doc("Acme rocks"), {"entities": ["U-PRODUCT", "O"]})
    with pytest.raises(ValueError, match="Gold entity label 'PRODUCT' in 'Acme rocks' is not one of the labels"):
        nlp.update([bad])
    with pytest.raises(ValueError, match="E109"):
        ner_nlp()("Anna visited Paris")


@pytest.mark.parametrize("scheme_lines", [
    # IOB1 (CoNLL-2003): I- everywhere, B- only between two entities of a type
    ["Anna NNP I-NP I-PER", "Smith NNP I-NP I-PER", "visited VBD I-VP O", "Paris NNP I-NP I-LOC"],
    # IOB2: every entity starts with B-
    ["Anna NNP I-NP B-PER", "Smith NNP I-NP I-PER", "visited VBD I-VP O", "Paris NNP I-NP B-LOC"],
])
def test_trains_from_spacy_convert_ner_output(tmp_path, scheme_lines):
    import subprocess
    import sys

    src = tmp_path / "train.iob"
    src.write_text("-DOCSTART- -X- O O\n\n" + "\n".join(scheme_lines) + "\n\n", encoding="utf8")
    subprocess.run([sys.executable, "-m", "spacy", "convert", str(src), str(tmp_path), "-c", "ner"], check=True, capture_output=True)
    nlp = ner_nlp()
    docs = list(DocBin().from_disk(tmp_path / "train.spacy").get_docs(nlp.vocab))
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Anna Smith", "PER"), ("Paris", "LOC")]
    egs = [Example(nlp.make_doc(doc.text), doc) for doc in docs]
    train(nlp, egs, steps=40)
    assert [(e.text, e.label_) for e in nlp("Anna Smith visited Paris").ents] == [("Anna Smith", "PER"), ("Paris", "LOC")]


@pytest.mark.parametrize("output", ["softmax", "memm"])
def test_local_output_layers_learn_without_constraints(output):
    """The local baselines of the comparison: unconstrained (an invalid sequence can be
    decoded, and is repaired into spans), but they learn and give probabilities."""
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_ner", config={"model": small_model(output=output)})
    egs = entity_examples(nlp)
    train(nlp, egs, steps=80)
    ner = nlp.get_pipe("crf_ner")
    net = ner.model.shims[0]._model
    if output == "memm":
        assert bool(net.crf.allowed.all())  # no structural mask
    assert nlp.evaluate(egs)["ents_f"] >= 0.9
    docs = list(nlp.pipe([t for t, _ in ENTITIES]))
    for doc in docs:
        scores = doc.spans["crf_ner"].attrs["scores"]
        assert len(scores) == len(doc.spans["crf_ner"]) and all(0.0 <= s <= 1.0 for s in scores)


def test_without_spans_key_no_span_group_and_no_forward_backward(monkeypatch):
    nlp = ner_nlp()
    train(nlp, entity_examples(nlp), steps=60)
    ner = nlp.get_pipe("crf_ner")
    texts = [text for text, _ in ENTITIES]
    expected = ents_of(nlp.pipe(texts))
    ner.cfg["spans_key"] = None

    def fail(*args, **kwargs):
        raise AssertionError("span probabilities computed without a span group or threshold")

    monkeypatch.setattr(type(ner.output_layer), "span_log_probs", fail)
    docs = list(nlp.pipe(texts))
    assert ents_of(docs) == expected
    assert all("crf_ner" not in doc.spans for doc in docs)
    # A threshold needs the probabilities again: they are computed, not stored.
    monkeypatch.undo()
    ner.cfg["threshold"] = 0.5
    docs = list(nlp.pipe(texts))
    assert all(len(doc.spans) == 0 for doc in docs)
