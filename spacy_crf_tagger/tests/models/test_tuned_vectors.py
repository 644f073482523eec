"""Fine-tuned static vectors: start at the pretrained vectors, learn a correction per
vectors row the training data uses, leave the other rows alone, and travel with the
pipeline."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.util import make_tempdir

from spacy_crf_tagger.models.tuned_vectors import count_vector_rows, tuned_static_vectors
from spacy_crf_tagger.models.vocab_embed import build_vocab_hash_embed_v1

from ..pipeline.util import TAGGED, small_model, tagged_examples, train

EMBED = {
    "@architectures": "spacy-crf-tagger.VocabHashEmbed.v1",
    "width": 16,
    "attrs": ["PREFIX", "SHAPE"],
    "rows": [100, 50],
    "include_static_vectors": True,
    "fine_tune_vectors": True,
}
# Lower-cased vectors, as GloVe's; "Unseen" never occurs in TAGGED.
VECTOR_WORDS = ["i", "like", "green", "eggs", "eat", "blue", "ham", "unseen"]


def add_vectors(nlp, width=6):
    rng = numpy.random.default_rng(0)
    nlp.vocab.reset_vectors(width=width)
    for word in VECTOR_WORDS:
        nlp.vocab.set_vector(word, rng.normal(size=width).astype("float32"))
    # A cased key sharing the row of its lower-cased word (see init_glove_vectors.py).
    for word in ("i", "eat", "unseen"):
        nlp.vocab.vectors.add(word.title(), row=nlp.vocab.vectors.find(key=word))


def tuned_tagger(**embed):
    nlp = spacy.blank("en")
    add_vectors(nlp)
    nlp.add_pipe("crf_tagger", config={"model": small_model(tok2vec={**EMBED, **embed})})
    return nlp


def tuned_layer(nlp):
    return next(n for n in nlp.get_pipe("crf_tagger").model.walk() if n.name == "tuned_vectors")


def row(nlp, word):
    return int(nlp.vocab.vectors.find(key=word))


def projected(layer, nlp, words):
    return layer.predict([Doc(nlp.vocab, words=words)]).data


def test_training_words_get_a_correction_and_other_rows_keep_their_vector():
    nlp = tuned_tagger()
    train(nlp, tagged_examples(nlp), steps=10)
    layer = tuned_layer(nlp)
    known = layer.attrs["known_rows"].tolist()
    # Every vectors row the training data reaches, and only those ("She" has no vector).
    assert sorted(known) == sorted({row(nlp, w) for w in VECTOR_WORDS if w != "unseen"})
    D = layer.get_param("D")
    assert D.shape == (len(known) + 1, 6)
    assert numpy.all(D[0] == 0.0)
    assert numpy.all(numpy.abs(D[1:]).sum(axis=1) > 0.0)
    # An unseen word is the pretrained vector projected; a cased variant shares its
    # lower-cased word's corrected vector; a word without a vector is zeros.
    W = layer.get_param("W")
    out = projected(layer, nlp, ["Unseen", "Eat", "eat", "She"])
    assert numpy.allclose(out[0], nlp.vocab.vectors.data[row(nlp, "unseen")] @ W.T, atol=1e-5)
    assert numpy.allclose(out[1], out[2])
    assert not numpy.allclose(out[1], nlp.vocab.vectors.data[row(nlp, "eat")] @ W.T, atol=1e-5)
    assert numpy.all(out[3] == 0.0)


def test_corrections_start_at_zero_and_gradients_match_finite_differences():
    nlp = tuned_tagger()
    docs = [nlp.make_doc(text) for text, _ in TAGGED]
    layer = tuned_static_vectors(4)
    layer.initialize(X=docs)
    assert count_vector_rows(layer, docs) is True
    assert numpy.all(layer.get_param("D") == 0.0)
    layer.set_param("D", numpy.random.default_rng(1).normal(size=layer.get_param("D").shape).astype("f"))
    d_out = numpy.random.default_rng(2).normal(size=(sum(len(d) for d in docs), 4)).astype("f")

    def loss():
        return float((layer.predict(docs).data * d_out).sum())

    out, backprop = layer(docs, is_train=True)
    out.data = d_out
    backprop(out)
    for name in ("W", "D"):
        grad = layer.get_grad(name).copy()
        param = layer.get_param(name)
        for index in [(0, 0), (1, 2), (2, 3)]:
            if name == "D" and index[0] == 0:
                assert grad[index] == 0.0  # row 0 means "no correction" and stays zero
                continue
            eps = 1e-2
            param[index] += eps
            plus = loss()
            param[index] -= 2 * eps
            minus = loss()
            param[index] += eps
            assert grad[index] == pytest.approx((plus - minus) / (2 * eps), rel=1e-2, abs=1e-2)


def test_tuned_vectors_survive_serialisation():
    nlp = tuned_tagger()
    train(nlp, tagged_examples(nlp), steps=5)
    layer = tuned_layer(nlp)
    texts = [text for text, _ in TAGGED] + ["Unseen eggs"]
    expected = [[t.tag_ for t in doc] for doc in nlp.pipe(texts)]
    with make_tempdir() as d:
        nlp.to_disk(d)
        nlp2 = spacy.load(d)
    loaded = tuned_layer(nlp2)
    assert numpy.array_equal(loaded.attrs["known_rows"], layer.attrs["known_rows"])
    assert numpy.array_equal(loaded.get_param("D"), layer.get_param("D"))
    assert [[t.tag_ for t in doc] for doc in nlp2.pipe(texts)] == expected


def test_hashed_attributes_without_a_word_identity_get_no_unknown_word_layer():
    names = [node.name for node in build_vocab_hash_embed_v1(8, ["PREFIX", "SHAPE"], [10, 10]).walk()]
    assert "known_words" not in names
    names = [node.name for node in build_vocab_hash_embed_v1(8, ["norm", "SHAPE"], [10, 10]).walk()]
    assert "known_words" in names


def test_errors():
    with pytest.raises(ValueError, match="expected include_static_vectors = true with it, got false"):
        build_vocab_hash_embed_v1(8, ["NORM"], [10], fine_tune_vectors=True)
    nlp = spacy.blank("en")  # no vectors
    nlp.add_pipe("crf_tagger", config={"model": small_model(tok2vec=EMBED)})
    with pytest.raises(ValueError, match="Expected the pipeline to have static vectors"):
        nlp.initialize(lambda: tagged_examples(nlp))


def test_floret_vectors_are_refused_with_a_clear_error():
    from spacy.vectors import Vectors

    nlp = spacy.blank("en")
    table = numpy.zeros((10, 6), dtype="float32")
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=table, mode="floret", minn=2, maxn=3, hash_count=1)
    layer = tuned_static_vectors(4)
    with pytest.raises(ValueError, match="Expected the pipeline's vectors to be a default-mode table"):
        layer.initialize(X=[nlp.make_doc("some words")])
