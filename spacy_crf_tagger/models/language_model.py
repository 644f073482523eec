"""Targets of the auxiliary language-modelling objective (Rei 2017; the head is
``pytorch.net.LanguageModelHead``): the vocabulary of the most frequent words of the
training corpus, and for each token the class of the next and the previous word.

Words are read by their NORM. The vocabulary is counted by ``crf_tagger``/``crf_ner``
at initialisation (``count_language_model_words``) and saved with the weights in the
model's attrs; until it is filled, the objective is off.
"""
from typing import Iterable, List

import numpy
from spacy.attrs import NORM
from spacy.tokens import Doc
from thinc.api import Model

# The model attr that holds the sorted NORM hashes of the vocabulary.
VOCAB_ATTR = "language_model_vocab"


def count_language_model_words(model: Model, docs: Iterable[Doc]) -> bool:
    """Set the model's vocabulary to its ``language_model_words`` most frequent NORM
    values in ``docs`` (ties broken by hash, so the choice is deterministic).
    RETURNS (bool): Whether the model has the objective (``language_model`` > 0)."""
    if model.attrs.get("language_model", 0.0) <= 0.0:
        return False
    arrays = [doc.to_array(NORM) for doc in docs if len(doc)]
    norms = numpy.concatenate(arrays).astype("uint64") if arrays else numpy.zeros((0,), "uint64")
    values, counts = numpy.unique(norms, return_counts=True)
    # Most frequent first; numpy.unique sorted the values, and a stable sort keeps that
    # order among equal counts.
    order = numpy.argsort(-counts, kind="stable")[: model.attrs["language_model_words"]]
    model.attrs[VOCAB_ATTR] = numpy.sort(values[order])
    return True


def language_model_targets(docs: List[Doc], vocab: numpy.ndarray, directions: int) -> numpy.ndarray:
    """The word class each direction of the encoder predicts at each token.

    docs (List[Doc]): Non-empty Docs, the rows of the padded batch.
    vocab (numpy.ndarray): Sorted NORM hashes (uint64), V >= 1 of them; a word
        outside them is class V.
    directions (int): 1 (next word only) or 2 (next word, then previous word).
    RETURNS (numpy.ndarray): Shape (directions, B, T), int64: at token t of a Doc the
        class of token t + 1 (row 0) and of token t - 1 (row 1); -1 at padding, after
        the last token and before the first.
    """
    lengths = numpy.array([len(doc) for doc in docs])
    norms = numpy.concatenate([doc.to_array(NORM) for doc in docs]).astype("uint64")
    at = numpy.searchsorted(vocab, norms).clip(max=len(vocab) - 1)
    classes = numpy.where(vocab[at] == norms, at, len(vocab))
    # Each token's Doc (row) and position in it (col).
    row = numpy.repeat(numpy.arange(len(docs)), lengths)
    col = numpy.arange(len(norms)) - numpy.repeat(numpy.cumsum(lengths) - lengths, lengths)
    targets = numpy.full((directions, len(docs), int(lengths.max())), -1, dtype="int64")
    # A token's class is the next-word target of the token before it, and the
    # previous-word target of the token after it.
    later, earlier = col > 0, col < lengths[row] - 1
    targets[0, row[later], col[later] - 1] = classes[later]
    if directions == 2:
        targets[1, row[earlier], col[earlier] + 1] = classes[earlier]
    return targets
