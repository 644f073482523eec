"""VocabHashEmbed: unseen words share one embedding, singletons train it, and the
table of known words travels with the pipeline."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.util import make_tempdir
from thinc.api import Model, NumpyOps, concatenate

from spacy_crf_tagger.models.vocab_embed import UNKNOWN, build_vocab_hash_embed_v1, count_training_words

from ..pipeline.util import TAGGED, small_model, tagged_examples, train

EMBED = {
    "@architectures": "spacy-crf-tagger.VocabHashEmbed.v1",
    "width": 16,
    "attrs": ["NORM", "SHAPE"],
    "rows": [500, 50],
}


def vocab_tagger(**embed):
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_tagger", config={"model": small_model(tok2vec={**EMBED, **embed})})
    return nlp


def known_layer(nlp):
    return next(n for n in nlp.get_pipe("crf_tagger").model.walk() if n.name == "known_words")


def word_vectors(nlp, words):
    tok2vec = nlp.get_pipe("crf_tagger").model.get_ref("tok2vec")
    return tok2vec.predict([Doc(nlp.vocab, words=words)])[0]


def test_unseen_words_share_one_embedding_and_known_words_keep_theirs():
    nlp = vocab_tagger()
    train(nlp, tagged_examples(nlp), steps=5)
    layer = known_layer(nlp)
    # Every training word is known; those seen once are the training-time candidates.
    assert nlp.vocab.strings["eggs"] in set(layer.attrs["known"].tolist())
    assert nlp.vocab.strings["eggs"] in set(layer.attrs["seen_once"].tolist())
    # Same shape (SHAPE "xxxx"), different unseen words -> identical vectors.
    vecs = word_vectors(nlp, ["zorp", "blik", "eggs"])
    assert numpy.allclose(vecs[0], vecs[1])
    assert not numpy.allclose(vecs[0], vecs[2])


def test_training_replaces_words_seen_once_at_the_rate():
    nlp = vocab_tagger(unknown_rate=1.0)
    train(nlp, tagged_examples(nlp), steps=1)
    layer = known_layer(nlp)
    eggs = nlp.vocab.strings["eggs"]
    feats = [numpy.array([[eggs, 1]], dtype="uint64")]
    out, _ = layer(feats, is_train=True)
    assert int(out[0][0, 0]) == int(UNKNOWN)
    out, _ = layer(feats, is_train=False)
    assert int(out[0][0, 0]) == eggs
    layer.attrs["unknown_rate"] = 0.0
    out, _ = layer(feats, is_train=True)
    assert int(out[0][0, 0]) == eggs


def test_without_counts_values_pass_through():
    model = build_vocab_hash_embed_v1(8, ["NORM"], [100])
    layer = next(n for n in model.walk() if n.name == "known_words")
    feats = [numpy.array([[123], [456]], dtype="uint64")]
    out, _ = layer(feats, is_train=True)
    assert out[0].tolist() == [[123], [456]]
    # count_training_words says whether a model has the layer at all.
    assert count_training_words(build_vocab_hash_embed_v1(8, ["NORM"], [100]), []) is True
    assert count_training_words(Model("other", lambda model, X, is_train: (X, None)), []) is False


def test_every_layer_counts_from_one_pass_over_a_generator():
    """Docs come from the corpus as a generator: two embeddings in one model (the NORM of
    one, the LOWER of the other) must both get their words from a single pass."""
    model = concatenate(
        build_vocab_hash_embed_v1(8, ["NORM"], [100]), build_vocab_hash_embed_v1(8, ["LOWER"], [100])
    )
    nlp = spacy.blank("en")
    docs = (nlp.make_doc(text) for text in ["The cat sat", "the Dog sat"])
    assert count_training_words(model, docs) is True
    layers = [n for n in model.walk() if n.name == "known_words"]
    ids = nlp.vocab.strings
    for layer in layers:
        assert sorted(layer.attrs["known"].tolist()) == sorted(ids[w] for w in ["the", "cat", "sat", "dog"])
        assert sorted(layer.attrs["seen_once"].tolist()) == sorted(ids[w] for w in ["cat", "dog"])


def test_known_words_survive_serialisation():
    nlp = vocab_tagger()
    train(nlp, tagged_examples(nlp), steps=5)
    known = known_layer(nlp).attrs["known"]
    texts = [text for text, _ in TAGGED] + ["Zorp eats unseen blik"]
    expected = [[t.tag_ for t in doc] for doc in nlp.pipe(texts)]
    with make_tempdir() as d:
        nlp.to_disk(d)
        nlp2 = spacy.load(d)
    assert numpy.array_equal(known_layer(nlp2).attrs["known"], known)
    assert [[t.tag_ for t in doc] for doc in nlp2.pipe(texts)] == expected
    nlp3 = vocab_tagger()
    nlp3.from_bytes(nlp.to_bytes())
    assert numpy.array_equal(known_layer(nlp3).attrs["known"], known)


@pytest.mark.parametrize(
    "args,message",
    [
        ({"attrs": ["NORM", "SHAPE"], "rows": [10]}, "expected one rows entry per attribute"),
        ({"attrs": [], "rows": []}, "at least one attribute"),
        ({"attrs": ["NORM"], "rows": [10], "unknown_rate": 1.5}, r"expected unknown_rate in \[0, 1\], got 1.5"),
    ],
)
def test_errors(args, message):
    with pytest.raises(ValueError, match=message):
        build_vocab_hash_embed_v1(8, **args)


def test_matrix_products_use_numpy_blas_on_the_cpu_and_agree_with_blis():
    nlp = vocab_tagger()
    train(nlp, tagged_examples(nlp), steps=3)
    tok2vec = nlp.get_pipe("crf_tagger").model.get_ref("tok2vec")
    assert all(isinstance(node.ops, NumpyOps) and not node.ops.use_blis for node in tok2vec.walk())
    words = ["Sue", "bought", "three", "apples", "."]
    fast = word_vectors(nlp, words)
    for node in tok2vec.walk():
        node.ops = NumpyOps(use_blis=True)
    numpy.testing.assert_allclose(fast, word_vectors(nlp, words), rtol=1e-5, atol=1e-6)
