"""The shipped configs are complete, validate, and train through `spacy train`."""
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import DocBin, Span
from spacy.training.initialize import init_nlp
from spacy.util import load_config, registry

from .pipeline.util import TAGGED

CONFIGS = Path(__file__).parents[2] / "configs"


def write_tagged_corpus(path: Path) -> Path:
    nlp = spacy.blank("en")
    db = DocBin()
    for text, tags in TAGGED * 3:
        doc = nlp.make_doc(text)
        for token, tag in zip(doc, tags):
            token.tag_ = tag
        doc.ents = [Span(doc, 0, 1, "X")]
        db.add(doc)
    db.to_disk(path)
    return path


def write_vectors(path: Path) -> Path:
    """A pipeline folder with tiny random vectors for the words of TAGGED."""
    nlp = spacy.blank("en")
    rng = numpy.random.default_rng(0)
    for text, _ in TAGGED:
        for word in text.split():
            nlp.vocab.set_vector(word, rng.normal(size=4).astype("float32"))
    nlp.to_disk(path)
    return path


def test_vectors_config_without_vectors_says_what_to_set(tmp_path):
    overrides = {"paths.train": str(write_tagged_corpus(tmp_path / "train.spacy")), "paths.dev": str(tmp_path / "train.spacy")}
    config = load_config(CONFIGS / "ner_vectors.cfg", overrides=overrides, interpolate=False)
    with pytest.raises(ValueError, match=r"Expected the pipeline to have static vectors.*Set \[paths\] vectors"):
        init_nlp(config.interpolate())


@pytest.mark.parametrize("factory,name", [("crf_tagger", "tagger.cfg"), ("crf_ner", "ner.cfg")])
def test_component_default_is_the_shipped_model(factory, name):
    """`nlp.add_pipe(factory)` without a config gets the model that was measured."""
    shipped = load_config(CONFIGS / name, interpolate=True)["components"][factory]["model"]
    nlp = spacy.blank("en")
    nlp.add_pipe(factory)
    default = nlp.config["components"][factory]["model"]
    assert registry.fill({"model": default})["model"] == registry.fill({"model": shipped})["model"]


def test_tagger_accuracy_config_is_tagger_cfg_but_for_the_characters_objective_and_width():
    """The two tagger configs are complete copies; keep them from drifting apart."""
    fast, accurate = (load_config(CONFIGS / name, interpolate=False) for name in ("tagger.cfg", "tagger_accuracy.cfg"))
    fast_model, accurate_model = (c["components"]["crf_tagger"].pop("model") for c in (fast, accurate))
    assert fast == accurate
    assert accurate_model.pop("char_cnn")["@architectures"] == "spacy-crf-tagger.CharLSTM.v1"
    assert accurate_model.pop("language_model") == 0.1
    assert accurate_model.pop("language_model_words") == 7500
    assert (fast_model["encoder"].pop("hidden_size"), accurate_model["encoder"].pop("hidden_size")) == (200, 400)
    fast_model.pop("char_cnn")
    assert fast_model == accurate_model


def test_ner_vectors_accuracy_config_is_ner_vectors_cfg_but_for_the_characters():
    base, accurate = (load_config(CONFIGS / name, interpolate=False) for name in ("ner_vectors.cfg", "ner_vectors_accuracy.cfg"))
    base_chars, accurate_chars = (c["components"]["crf_ner"]["model"].pop("char_cnn") for c in (base, accurate))
    assert base == accurate
    assert accurate_chars["@architectures"] == "spacy-crf-tagger.CharLSTM.v1"
    assert base_chars["@architectures"] == "spacy-crf-tagger.CharCNN.v1"


# Every file in configs/ (the transformer ones need spacy-transformers and take the
# tiny local BERT as their model).
PIPELINES = {
    "tagger.cfg": ["crf_tagger"],
    "tagger_accuracy.cfg": ["crf_tagger"],
    "ner.cfg": ["crf_ner"],
    "ner_vectors.cfg": ["crf_ner"],
    "ner_vectors_accuracy.cfg": ["crf_ner"],
    "both.cfg": ["crf_tagger", "crf_ner"],
    "tagger_trf.cfg": ["transformer", "crf_tagger"],
    "ner_trf.cfg": ["transformer", "crf_ner"],
    "compare/ner_trf_spacy.cfg": ["transformer", "ner"],
}


def test_every_config_is_tested():
    assert sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.cfg")) == sorted(PIPELINES)


@pytest.mark.parametrize("name,pipe_names", PIPELINES.items())
def test_config_validates_and_initialises(name, pipe_names, tmp_path, request):
    overrides = {
        "paths.train": str(write_tagged_corpus(tmp_path / "train.spacy")),
        "paths.dev": str(tmp_path / "train.spacy"),
    }
    if "transformer" in pipe_names:
        overrides["paths.transformer_name"] = str(request.getfixturevalue("tiny_bert"))
    if name.startswith("ner_vectors"):
        overrides["paths.vectors"] = str(write_vectors(tmp_path / "vectors"))
    config = load_config(CONFIGS / name, overrides=overrides, interpolate=False)
    assert config["system"]["gpu_allocator"] == "pytorch"
    nlp = init_nlp(config.interpolate())
    assert nlp.pipe_names == pipe_names
    assert all(nlp.get_pipe(name).labels for name in pipe_names if name != "transformer")


@pytest.mark.parametrize("name", ["tagger.cfg", "tagger_accuracy.cfg"])
def test_tagger_config_trains_through_the_cli(name, tmp_path):
    corpus = write_tagged_corpus(tmp_path / "train.spacy")
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "spacy", "train", str(CONFIGS / name),
        "--output", str(out),
        "--paths.train", str(corpus), "--paths.dev", str(corpus),
        "--training.max_steps", "12", "--training.eval_frequency", "6",
        "--components.crf_tagger.model.encoder.hidden_size", "16",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    nlp = spacy.load(out / "model-last")
    doc = nlp("I like green eggs")
    assert all(token.tag_ in nlp.get_pipe("crf_tagger").labels for token in doc)
    # The language-modelling vocabulary is counted at initialisation and saved.
    language_model = load_config(CONFIGS / name)["components"]["crf_tagger"]["model"].get("language_model", 0.0)
    assert (len(nlp.get_pipe("crf_tagger").model.attrs["language_model_vocab"]) > 0) == (language_model > 0)
