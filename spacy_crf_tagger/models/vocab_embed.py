"""Hashed word embeddings that know which words they were trained on.

spaCy's ``MultiHashEmbed`` maps any word, seen in training or not, to a sum of hashed
rows. A word never seen in training therefore gets rows trained for other words: noise
exactly where the model most needs to fall back on spelling and context (CoNLL-2003's
test set is full of unseen names). Here the word-identity column (NORM by default)
of a word that did not occur in the training data is replaced by one "unknown" value,
so all unseen words share one trained embedding; and during training, words that
occurred once are replaced by it at ``unknown_rate``, so that embedding is learnt
(Lample et al. 2016, section 4.3, with p = 0.5).

The counts come from the component's training corpus: ``count_training_words`` is
called by ``crf_tagger``/``crf_ner`` at initialisation, and the table of known words
is saved with the weights. Until it is filled the layer passes values through, so
the embedding then behaves like ``MultiHashEmbed``.
"""
from typing import Iterable, List, Sequence, Union

import numpy
from spacy.attrs import IDS
from spacy.ml.featureextractor import FeatureExtractor
from spacy.ml.staticvectors import StaticVectors
from spacy.tokens import Doc
from thinc.api import HashEmbed, Maxout, Model, chain, concatenate, list2ragged, ragged2list, with_array
from thinc.types import Floats2d, Ints2d

from .cpu_ops import with_numpy_blas
from .tuned_vectors import tuned_static_vectors

LAYER_NAME = "known_words"
# Attributes that identify a word (the others, affixes and shape, are shared by many).
WORD_ATTRS = ("NORM", "LOWER", "ORTH")
# The value unseen words get in place of their attribute (any fixed hash works).
UNKNOWN = numpy.uint64(0)


def build_vocab_hash_embed_v1(
    width: int,
    attrs: List[Union[str, int]],
    rows: List[int],
    include_static_vectors: bool = False,
    unknown_rate: float = 0.5,
    fine_tune_vectors: bool = False,
) -> Model[List[Doc], List[Floats2d]]:
    """``MultiHashEmbed.v2`` with an unknown-word embedding for its first attribute.
    Registered as ``spacy-crf-tagger.VocabHashEmbed.v1``.

    width (int): Output width, and width of each hashed embedding.
    attrs (List[Union[str, int]]): Token attributes. When the first one is a word
        identity (NORM, LOWER or ORTH), unseen words lose it; otherwise (e.g.
        ["PREFIX", "SUFFIX", "SHAPE"] next to static vectors) the attributes are
        hashed as in MultiHashEmbed.
    rows (List[int]): Hash table rows, one per attribute.
    include_static_vectors (bool): Concatenate the pipeline's static vectors.
    unknown_rate (float): In training, the rate at which words seen once in the
        training data are replaced by the unknown value.
    fine_tune_vectors (bool): With include_static_vectors, learn a correction of the
        pretrained vector of every word in the training data (Ma & Hovy 2016 fine-tune
        their embeddings); see ``tuned_vectors.py``.
    RETURNS (Model[List[Doc], List[Floats2d]]): Shape (len(doc), width) per Doc.
    """
    if len(attrs) != len(rows) or not attrs:
        raise ValueError(
            f"VocabHashEmbed: expected one rows entry per attribute and at least one "
            f"attribute, got attrs {list(attrs)} and rows {list(rows)}."
        )
    if not 0.0 <= unknown_rate <= 1.0:
        raise ValueError(f"VocabHashEmbed: expected unknown_rate in [0, 1], got {unknown_rate}.")
    if fine_tune_vectors and not include_static_vectors:
        raise ValueError(
            "VocabHashEmbed: fine_tune_vectors = true fine-tunes the static vectors, "
            "expected include_static_vectors = true with it, got false."
        )
    embeddings = [HashEmbed(width, n, column=i, seed=7 + i, dropout=0.0) for i, n in enumerate(rows)]
    n_inputs = len(embeddings) + int(include_static_vectors)
    word_layers = [known_words(unknown_rate)] if _is_word_attr(attrs[0]) else []
    hashed = chain(
        FeatureExtractor(list(attrs)),
        *word_layers,
        list2ragged(),
        with_array(concatenate(*embeddings)),
    )
    if include_static_vectors:
        vectors = tuned_static_vectors(width) if fine_tune_vectors else StaticVectors(width, dropout=0.0)
        hashed = concatenate(hashed, vectors)
    mix = with_array(Maxout(width, width * n_inputs, nP=3, dropout=0.0, normalize=True))
    return with_numpy_blas(chain(hashed, mix, ragged2list()))


def _is_word_attr(attr: Union[str, int]) -> bool:
    if isinstance(attr, str):
        return attr.upper() in WORD_ATTRS
    return attr in {IDS[name] for name in WORD_ATTRS}


def known_words(unknown_rate: float) -> Model[List[Ints2d], List[Ints2d]]:
    """Replace column 0 of unseen words by ``UNKNOWN`` (and of words seen once, at
    ``unknown_rate``, in training)."""
    empty = numpy.zeros((0,), dtype="uint64")
    return Model(
        LAYER_NAME,
        _known_words_forward,
        attrs={"unknown_rate": unknown_rate, "known": empty, "seen_once": empty},
    )


def _is_in(values: numpy.ndarray, table: numpy.ndarray) -> numpy.ndarray:
    """values (uint64, any shape) found in the sorted table."""
    if table.size == 0:
        return numpy.zeros(values.shape, dtype=bool)
    at = numpy.searchsorted(table, values).clip(max=table.size - 1)
    return table[at] == values


def _known_words_forward(model: Model, features: List[Ints2d], is_train: bool):
    known = model.attrs["known"]
    if known.size == 0:
        return features, lambda d_features: []
    seen_once, rate = model.attrs["seen_once"], model.attrs["unknown_rate"]
    out = []
    for feats in features:
        feats = model.ops.to_numpy(feats).copy()
        words = feats[:, 0]
        unknown = ~_is_in(words, known)
        if is_train and rate > 0.0:
            unknown |= _is_in(words, seen_once) & (numpy.random.random(words.shape) < rate)
        words[unknown] = UNKNOWN
        out.append(model.ops.asarray2i(feats, dtype="uint64"))
    return out, lambda d_features: []


def count_training_words(model: Model, docs: Iterable[Doc]) -> bool:
    """Fill the known-word tables of every ``known_words`` layer in ``model`` from the
    training Docs. RETURNS (bool): Whether the model has such a layer."""
    layers = [node for node in model.walk() if node.name == LAYER_NAME]
    if not layers:
        return False
    columns = {layer.id: _extractor_before(model, layer).attrs["columns"][0] for layer in layers}
    wanted = sorted(set(columns.values()))
    # One pass over the Docs (a generator from the corpus), whatever the number of layers.
    values = [doc.to_array(wanted).reshape(len(doc), len(wanted)) for doc in docs if len(doc)]
    table = numpy.concatenate(values).astype("uint64") if values else numpy.zeros((0, len(wanted)), "uint64")
    for layer in layers:
        uniques, counts = numpy.unique(table[:, wanted.index(columns[layer.id])], return_counts=True)
        layer.attrs["known"] = uniques
        layer.attrs["seen_once"] = uniques[counts == 1]
    return True


def _extractor_before(model: Model, layer: Model) -> Model:
    """The FeatureExtractor whose output ``layer`` reads (the layer before it in its chain)."""
    for node in model.walk():
        layers: Sequence[Model] = node.layers
        for first, second in zip(layers, layers[1:]):
            if second is layer:
                return first
    raise ValueError(f"Expected a FeatureExtractor before the '{LAYER_NAME}' layer, found none.")
