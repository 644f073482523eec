"""Doc -> output row: entities with crf_ner's confidences, token tags, the schema."""
import pytest
import spacy
from spacy.tokens import Span

from spacy_crf_tagger.annotate.records import (
    PYARROW_MISSING,
    SCHEMA_VERSION,
    confidence_keys,
    doc_to_record,
    output_schema,
    records_to_table,
    require_pyarrow,
)


def test_rows_carry_entities_with_the_span_group_confidences(model_dir):
    nlp = spacy.load(model_dir)
    assert confidence_keys(nlp) == ["crf_ner"]
    doc = nlp("Anna Smith visited New York yesterday .")
    row = doc_to_record(doc, 7, "a-1", confidence_keys(nlp))
    assert (row["row"], row["id"], row["text"]) == (7, "a-1", doc.text)
    group = doc.spans["crf_ner"]
    expected = {(s.start, s.end, s.label_): float(p) for s, p in zip(group, group.attrs["scores"])}
    assert [(e["start"], e["end"], e["label"]) for e in row["entities"]] == [
        (e.start, e.end, e.label_) for e in doc.ents
    ]
    assert row["entities"], "the trained pipeline finds entities here"
    for ent, span in zip(row["entities"], doc.ents):
        assert ent["text"] == span.text == doc.text[ent["start_char"] : ent["end_char"]]
        assert ent["confidence"] == expected[(span.start, span.end, span.label_)]
    assert [(t["text"], t["start_char"], t["tag"]) for t in row["tokens"]] == [(t.text, t.idx, t.tag_) for t in doc]
    assert all(t["pos"] is None for t in row["tokens"])  # the tagger sets token.tag only


def test_any_pipeline_works_and_unscored_entities_get_null_confidence():
    nlp = spacy.blank("en")
    doc = nlp("Lagos is big")
    doc.ents = [Span(doc, 0, 1, label="LOC")]
    row = doc_to_record(doc, 0, None, confidence_keys(nlp))
    assert confidence_keys(nlp) == []
    assert row["id"] == "0"
    assert row["entities"] == [
        {"text": "Lagos", "label": "LOC", "start_char": 0, "end_char": 5, "start": 0, "end": 1, "confidence": None}
    ]
    assert row["tokens"][0] == {"text": "Lagos", "start_char": 0, "tag": None, "pos": None}


def test_entities_below_the_threshold_stay_out(model_dir):
    nlp = spacy.load(model_dir)
    text = "Anna Smith visited New York yesterday ."
    scores = [float(p) for p in nlp(text).spans["crf_ner"].attrs["scores"]]
    assert len(scores) == 2
    nlp.get_pipe("crf_ner").cfg["threshold"] = max(scores)
    row = doc_to_record(nlp(text), 0, None, confidence_keys(nlp))
    assert [e["confidence"] for e in row["entities"]] == [max(scores)]


def test_rows_fit_the_schema_and_empty_docs_work(model_dir):
    nlp = spacy.load(model_dir)
    docs = list(nlp.pipe(["", "Bob works at Globex ."]))
    table = records_to_table(doc_to_record(doc, i, None, ["crf_ner"]) for i, doc in enumerate(docs))
    assert table.schema.equals(output_schema(), check_metadata=True)
    assert table.schema.metadata[b"schema"] == SCHEMA_VERSION.encode()
    assert table.column("entities").to_pylist()[0] == [] and table.column("tokens").to_pylist()[0] == []


def test_without_pyarrow_the_error_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(ImportError, match=r'pip install "spacy-crf-tagger\[annotate\]"') as err:
        require_pyarrow()
    assert str(err.value) == PYARROW_MISSING
