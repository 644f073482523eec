"""configs/ner_trf.cfg and configs/tagger_trf.cfg train through `spacy train` with the
tiny local BERT, and what they save loads with `spacy.load` without the model
directory they started from."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.util import load_config

from .util import SENTENCES, changed_weights, transformer_weights, write_corpus

pytest.importorskip("spacy_transformers")

CONFIGS = Path(__file__).parents[3] / "configs"


def spacy_train(config: str, out: Path, corpus: Path, model_dir: Path, *overrides: str) -> None:
    cmd = [
        sys.executable, "-m", "spacy", "train", str(CONFIGS / config), "--output", str(out),
        "--paths.train", str(corpus), "--paths.dev", str(corpus),
        "--paths.transformer_name", str(model_dir),
        "--training.max_steps", "16", "--training.eval_frequency", "8",
        "--training.accumulate_gradient", "1", "--training.optimizer.learn_rate", "0.002",
        *overrides,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def entities(doc):
    return [(e.start, e.end, e.label_) for e in doc.ents]


def test_ner_trf_trains_saves_and_loads(tiny_bert, tmp_path):
    from transformers import AutoModel

    original = AutoModel.from_pretrained(str(tiny_bert)).state_dict()
    # Train from a copy, then delete it: the saved pipeline must not need it.
    model_dir = Path(shutil.copytree(tiny_bert, tmp_path / "bert"))
    corpus = write_corpus(tmp_path / "train.spacy")
    spacy_train(
        "ner_trf.cfg", tmp_path / "out", corpus, model_dir,
        # The BiLSTM setting: an encoder block where the config has none.
        "--components.crf_ner.model.encoder",
        '{"@architectures": "spacy-crf-tagger.RNNEncoder.v1", "hidden_size": 16}',
    )
    shutil.rmtree(model_dir)

    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.pipe_names == ["transformer", "crf_ner"]
    ner = nlp.get_pipe("crf_ner")
    assert set(ner.labels) == {"LOC", "ORG", "PER"}
    assert ner.model.attrs["encoder"]["hidden_size"] == 16
    # `spacy train` passed the CRF's gradient on to the transformer.
    assert len(changed_weights(original, transformer_weights(nlp))) > len(original) // 2
    docs = list(nlp.pipe([text for text, _, _ in SENTENCES]))
    assert any(doc.ents for doc in docs)
    for doc in docs:
        group = doc.spans["crf_ner"]
        assert len(group.attrs["scores"]) == len(group)
        assert all(0.0 <= p <= 1.0 for p in group.attrs["scores"])
        assert all(ent.label_ in ner.labels for ent in doc.ents)

    nlp2 = spacy.util.load_model_from_config(nlp.config, auto_fill=True)
    nlp2.from_bytes(nlp.to_bytes())
    for doc, doc2 in zip(docs, nlp2.pipe([doc.text for doc in docs])):
        assert entities(doc2) == entities(doc)


def test_tagger_trf_trains_and_loads(tiny_bert, tmp_path):
    corpus = write_corpus(tmp_path / "train.spacy")
    spacy_train("tagger_trf.cfg", tmp_path / "out", corpus, tiny_bert)
    nlp = spacy.load(tmp_path / "out" / "model-best")
    tagger = nlp.get_pipe("crf_tagger")
    assert tagger.model.attrs["encoder"] is None
    doc = nlp("Tomas reads old books")
    assert all(token.tag_ in tagger.labels for token in doc)


@pytest.mark.parametrize("name,component", [("ner_trf.cfg", "crf_ner"), ("tagger_trf.cfg", "crf_tagger")])
def test_mixed_precision_is_one_system_setting(name, component):
    config = load_config(CONFIGS / name, overrides={"system.mixed_precision": True}, interpolate=True)
    assert config["components"]["transformer"]["model"]["mixed_precision"] is True
    assert config["components"][component]["model"]["mixed_precision"] is True
    assert config["system"]["gpu_allocator"] == "pytorch"
