"""spaCy's component battery for crf_tagger."""
import pickle
import re

import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from spacy.util import make_tempdir
from thinc.api import Adam

from spacy_crf_tagger.models.sequence_labeler import get_net
from spacy_crf_tagger.pipeline.base import MISSING

from .util import LISTENER, SHARED_TOK2VEC, TAGGED, small_model, tagged_examples, tagger_nlp, train


def tags_of(docs):
    return [[t.tag_ for t in doc] for doc in docs]


def test_add_pipe_without_importing_needs_only_the_entry_point():
    nlp = spacy.blank("en")
    tagger = nlp.add_pipe("crf_tagger")
    assert tagger.cfg["attr"] == "tag"
    assert nlp.get_pipe_meta("crf_tagger").assigns == ["token.tag", "token.pos"]


def test_overfitting_IO():
    nlp = tagger_nlp()
    examples = tagged_examples(nlp)
    _, losses = train(nlp, examples, steps=80)
    assert losses["crf_tagger"] < 0.05
    texts = [text for text, _ in TAGGED]
    expected = [tags for _, tags in TAGGED]
    assert tags_of(nlp.pipe(texts)) == expected
    scores = nlp.evaluate(examples)
    assert scores["tag_acc"] == 1.0

    # to_disk -> spacy.load gives the same output, through the entry points
    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        nlp2 = spacy.load(tmp)
        assert tags_of(nlp2.pipe(texts)) == expected

    # pipe twice == pipe once == __call__, whatever the batch size
    batch1 = tags_of(nlp.pipe(texts, batch_size=3))
    batch2 = tags_of(nlp.pipe(texts, batch_size=1))
    single = [[t.tag_ for t in nlp(text)] for text in texts]
    assert batch1 == batch2 == single == expected

    # to_bytes / from_bytes, also of the whole pipeline, and pickling
    nlp3 = tagger_nlp()
    nlp3.from_bytes(nlp.to_bytes())
    assert tags_of(nlp3.pipe(texts)) == expected
    nlp4 = pickle.loads(pickle.dumps(nlp))
    assert tags_of(nlp4.pipe(texts)) == expected


def test_no_dropout_at_prediction():
    nlp = tagger_nlp(small_model(dropout=0.5))
    train(nlp, tagged_examples(nlp), steps=2)
    text = "I like green eggs quickly"
    tagger = nlp.get_pipe("crf_tagger")
    runs = [tagger.predict([nlp.make_doc(text)])[0].tolist() for _ in range(5)]
    assert all(r == runs[0] for r in runs)


def test_variational_dropout_trains_and_reloads():
    nlp = tagger_nlp(small_model(dropout=0.3, variational_dropout=True))
    examples = tagged_examples(nlp)
    _, losses = train(nlp, examples, steps=80)
    assert losses["crf_tagger"] < 0.5
    texts = [text for text, _ in TAGGED]
    expected = tags_of(nlp.pipe(texts))
    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        nlp2 = spacy.load(tmp)
    assert nlp2.get_pipe("crf_tagger").model.attrs["variational_dropout"] is True
    assert tags_of(nlp2.pipe(texts)) == expected


def test_predict_pos():
    data = [("I like green eggs", ["PRON", "VERB", "ADJ", "NOUN"]), ("Eat ham", ["VERB", "NOUN"])]
    nlp = tagger_nlp(attr="pos")
    examples = tagged_examples(nlp, data, key="pos")
    train(nlp, examples, steps=60)
    doc = nlp("I like green eggs")
    assert [t.pos_ for t in doc] == data[0][1]
    assert [t.tag_ for t in doc] == ["", "", "", ""]
    scores = nlp.evaluate(examples)
    assert scores["pos_acc"] == 1.0 and "tag_acc" not in scores


def test_invalid_attr():
    with pytest.raises(ValueError, match="expected attr to be one of \\['pos', 'tag'\\], got 'lemma'"):
        tagger_nlp(attr="lemma")


def test_overwrite_setting():
    nlp = tagger_nlp()
    train(nlp, tagged_examples(nlp), steps=40)
    doc = nlp.make_doc("I like green eggs")
    doc[0].tag_ = "XX"
    nlp.get_pipe("crf_tagger")(doc)
    assert doc[0].tag_ == "XX" and doc[1].tag_ == "VBP"
    nlp2 = tagger_nlp(overwrite=True)
    train(nlp2, tagged_examples(nlp2), steps=40)
    doc = nlp2.make_doc("I like green eggs")
    doc[0].tag_ = "XX"
    nlp2.get_pipe("crf_tagger")(doc)
    assert doc[0].tag_ == "PRP"


@pytest.mark.parametrize(
    "changes",
    [
        {"output": "softmax"},
        {"output": "memm"},
        {"char_cnn": None},
        {"encoder": None},
        {"encoder": {"cell": "gru", "hidden_size": 16, "bidirectional": False}},
        {"encoder": {"cell": "rnn", "hidden_size": 16, "depth": 2, "dropout": 0.1}},
        {"output": "softmax", "char_cnn": None, "encoder": {"cell": "rnn", "hidden_size": 16}},
    ],
)
def test_architecture_variants_learn(changes):
    model = small_model()
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(model.get(key), dict):
            model[key] = {**model[key], **value}
        else:
            model[key] = value
    nlp = tagger_nlp(model)
    examples = tagged_examples(nlp)
    train(nlp, examples, steps=100)
    assert nlp.evaluate(examples)["tag_acc"] >= 0.9
    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        assert tags_of(spacy.load(tmp).pipe([t for t, _ in TAGGED])) == tags_of(nlp.pipe([t for t, _ in TAGGED]))


CHAR_LSTM = {"@architectures": "spacy-crf-tagger.CharLSTM.v1", "embed_size": 8, "hidden_size": 8}


def test_char_lstm_learns_and_round_trips():
    nlp = tagger_nlp(small_model(char_cnn=CHAR_LSTM))
    examples = tagged_examples(nlp)
    train(nlp, examples, steps=100)
    assert nlp.evaluate(examples)["tag_acc"] >= 0.9
    net = get_net(nlp.get_pipe("crf_tagger").model)
    assert type(net.char_cnn).__name__ == "CharLSTM" and net.char_cnn.width == 16
    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        texts = [t for t, _ in TAGGED]
        assert tags_of(spacy.load(tmp).pipe(texts)) == tags_of(nlp.pipe(texts))
        # The weights of a character LSTM cannot be read into a character CNN.
        config = spacy.util.load_config(tmp / "config.cfg")
        config["components"]["crf_tagger"]["model"]["char_cnn"] = {
            "@architectures": "spacy-crf-tagger.CharCNN.v1", **small_model()["char_cnn"]
        }
        config.to_disk(tmp / "config.cfg")
        with pytest.raises(ValueError, match="char_cnn: saved .*'kind': 'lstm'"):
            spacy.load(tmp)


def test_char_cnn_boundaries_learn_and_round_trip():
    char_cnn = {"@architectures": "spacy-crf-tagger.CharCNN.v1", **small_model()["char_cnn"], "boundaries": True}
    nlp = tagger_nlp(small_model(char_cnn=char_cnn))
    examples = tagged_examples(nlp)
    train(nlp, examples, steps=100)
    assert nlp.evaluate(examples)["tag_acc"] >= 0.9
    assert get_net(nlp.get_pipe("crf_tagger").model).char_cnn.boundaries
    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        texts = [t for t, _ in TAGGED]
        assert tags_of(spacy.load(tmp).pipe(texts)) == tags_of(nlp.pipe(texts))
        # Weights trained with the markers have two more character rows.
        config = spacy.util.load_config(tmp / "config.cfg")
        config["components"]["crf_tagger"]["model"]["char_cnn"]["boundaries"] = False
        config.to_disk(tmp / "config.cfg")
        with pytest.raises(ValueError, match="char_cnn: saved .*'boundaries': True"):
            spacy.load(tmp)


def test_unknown_output_layer():
    with pytest.raises(ValueError, match="Unknown output layer 'hmm': expected one of \\['crf', 'memm', 'softmax'\\]"):
        tagger_nlp(small_model(output="hmm"))


def test_mixed_precision_on_cpu_warns_and_trains_in_float32():
    nlp = tagger_nlp(small_model(mixed_precision=True))
    with pytest.warns(UserWarning, match="mixed_precision = true needs a GPU"):
        _, losses = train(nlp, tagged_examples(nlp), steps=3)
    assert numpy.isfinite(losses["crf_tagger"])
    assert get_net(nlp.get_pipe("crf_tagger").model).crf.transitions.dtype == torch.float32


def test_transitions_are_trained_through_update():
    nlp = tagger_nlp()
    train(nlp, tagged_examples(nlp), steps=10)
    net = get_net(nlp.get_pipe("crf_tagger").model)
    assert float(net.crf.transitions.detach().abs().sum()) > 0.0


def test_empty_docs():
    nlp = tagger_nlp()
    examples = tagged_examples(nlp)
    train(nlp, examples, steps=5)
    assert len(nlp("")) == 0
    docs = list(nlp.pipe(["", "I like eggs", "", "Dogs bark", ""]))
    assert [len(d) for d in docs] == [0, 3, 0, 2, 0]
    assert all(t.tag_ for t in docs[1]) and all(t.tag_ for t in docs[3])
    assert list(nlp.pipe([])) == []
    empty = [Example.from_dict(nlp.make_doc(""), {"tags": []})]
    assert nlp.update(empty)["crf_tagger"] == 0.0
    # a batch mixing empty and non-empty docs trains
    nlp.update(empty + examples)


def test_decode_of_a_model_output_is_what_predict_gives():
    nlp = tagger_nlp()
    train(nlp, tagged_examples(nlp), steps=5)
    tagger = nlp.get_pipe("crf_tagger")
    docs = [nlp.make_doc(t) for t in ["I like eggs", "", "She reads old books quickly"]]
    decoded = tagger.decode(tagger.model.predict(docs))
    assert [d.tolist() for d in decoded] == [d.tolist() for d in tagger.predict(docs)]
    assert [len(d) for d in decoded] == [3, 0, 5]
    # a batch of empty Docs has no potentials, and decodes to empty tag sequences
    assert [len(d) for d in tagger.decode(tagger.model.predict([nlp.make_doc("")] * 2))] == [0, 0]


def test_partial_and_misaligned_gold():
    nlp = tagger_nlp()
    tagger = nlp.get_pipe("crf_tagger")
    full = tagged_examples(nlp)
    partial = Example.from_dict(nlp.make_doc("I like green eggs"), {"tags": ["PRP", "", "JJ", ""]})
    # reference tokenised differently: "greeneggs" has no aligned gold tokens
    misaligned = Example(
        nlp.make_doc("I like greeneggs"),
        spacy.tokens.Doc(nlp.vocab, words=["I", "like", "green", "eggs"], tags=["PRP", "VBP", "JJ", "NNS"]),
    )
    train(nlp, full, steps=3)
    assert tagger._gold_tags(partial).tolist() == [
        tagger.labels.index("PRP"), MISSING, tagger.labels.index("JJ"), MISSING
    ]
    assert tagger._gold_tags(misaligned).tolist()[2] == MISSING
    losses = nlp.update([partial, misaligned])
    assert numpy.isfinite(losses["crf_tagger"])


def test_partial_gold_is_not_taught_as_a_label():
    """An unannotated token contributes no loss, whatever the model predicts there."""
    nlp = tagger_nlp()
    train(nlp, tagged_examples(nlp), steps=3)
    tagger = nlp.get_pipe("crf_tagger")
    unannotated = Example.from_dict(nlp.make_doc("green eggs"), {"tags": ["", ""]})
    scores = tagger.model.predict([unannotated.predicted])
    loss, _ = tagger.get_loss([unannotated], scores)
    assert loss == pytest.approx(0.0, abs=1e-5)


def test_unknown_gold_label_is_an_error():
    nlp = tagger_nlp()
    train(nlp, tagged_examples(nlp), steps=1)
    eg = Example.from_dict(nlp.make_doc("eggs"), {"tags": ["FOO"]})
    with pytest.raises(ValueError, match="Gold tag 'FOO' in 'eggs' is not one of the 8 labels"):
        nlp.update([eg])


def test_label_errors():
    nlp = tagger_nlp()
    tagger = nlp.get_pipe("crf_tagger")
    with pytest.raises(ValueError, match="E187"):
        tagger.add_label(5)
    assert tagger.add_label("NN") == 1
    assert tagger.add_label("NN") == 0
    train(nlp, tagged_examples(nlp), steps=1)
    with pytest.raises(ValueError, match="Cannot add label 'XYZ' to 'crf_tagger': its network was already built for 8 labels"):
        tagger.add_label("XYZ")


def test_labels_given_at_initialize():
    nlp = tagger_nlp()
    examples = tagged_examples(nlp)
    tagger = nlp.get_pipe("crf_tagger")
    tagger.initialize(lambda: examples, nlp=nlp, labels=["NN", "VB"])
    assert tagger.labels == ("NN", "VB")


def test_initialize_errors():
    nlp = tagger_nlp()
    for bad in (lambda: None, []):
        with pytest.raises(TypeError, match="E930"):
            nlp.initialize(get_examples=bad)
    with pytest.raises(ValueError, match="E143"):  # no examples and no labels
        nlp.initialize(get_examples=None)
    untagged = [Example.from_dict(nlp.make_doc("no tags here"), {})]
    with pytest.raises(ValueError, match="E143"):
        nlp.initialize(lambda: untagged)
    tagger = tagger_nlp().get_pipe("crf_tagger")
    with pytest.raises(TypeError, match="E930"):
        tagger.initialize(lambda: [], labels=["NN"])


def test_uninitialized_component_says_so():
    nlp = tagger_nlp()
    with pytest.raises(ValueError, match="E109"):
        nlp("I like eggs")


def test_uninitialized_round_trip():
    nlp = tagger_nlp()
    nlp2 = tagger_nlp()
    nlp2.from_bytes(nlp.to_bytes())
    assert nlp2.get_pipe("crf_tagger").labels == ()


def test_shared_tok2vec_listener_receives_gradient():
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec", config={"model": SHARED_TOK2VEC})
    nlp.add_pipe("crf_tagger", config={"model": small_model(tok2vec=LISTENER)})
    examples = tagged_examples(nlp)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    tok2vec = nlp.get_pipe("tok2vec").model
    before = [p.copy() for p in _params(tok2vec)]
    for _ in range(60):
        nlp.update(examples, sgd=optimizer)
    after = _params(tok2vec)
    assert any(not numpy.allclose(b, a) for b, a in zip(before, after))
    assert nlp.evaluate(examples)["tag_acc"] >= 0.9
    with make_tempdir() as tmp:
        nlp.to_disk(tmp)
        texts = [t for t, _ in TAGGED]
        assert tags_of(spacy.load(tmp).pipe(texts)) == tags_of(nlp.pipe(texts))


def _params(model):
    return [node.get_param(name) for node in model.walk() for name in node.param_names if node.has_param(name)]


def test_feature_crf_without_encoder_learns():
    """The classic feature CRF: lexical features of the token and its neighbours
    straight into the CRF (no character CNN, no recurrent encoder)."""
    features = {
        "@architectures": "spacy-crf-tagger.LexicalFeatures.v1",
        "width": 8,
        "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
        "rows": [500, 100, 100, 50],
        "window": 1,
        "include_static_vectors": False,
    }
    nlp = tagger_nlp(small_model(tok2vec=features, char_cnn=None, encoder=None))
    examples = tagged_examples(nlp)
    train(nlp, examples, steps=60)
    assert nlp.evaluate(examples)["tag_acc"] >= 0.9
    net = get_net(nlp.get_pipe("crf_tagger").model)
    assert net.encoder is None and net.char_cnn is None
    assert net.emission.in_features == 8 * 4 * 3


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"rows": [10]}, "expected one rows entry per attribute, got 4 attrs"),
        ({"attrs": [], "rows": []}, "expected at least one attribute"),
        ({"window": -1}, "expected width >= 1 and window >= 0, got 8 and -1"),
    ],
)
def test_feature_errors(changes, message):
    from spacy_crf_tagger.models.lexical_features import build_lexical_features_v1

    args = {"width": 8, "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"], "rows": [5, 5, 5, 5], "window": 1}
    args.update(changes)
    with pytest.raises(ValueError, match=re.escape(message)):
        build_lexical_features_v1(**args)
