"""Static vectors fine-tuned on the words of the training data.

spaCy's ``StaticVectors`` keeps the pretrained table frozen and learns one linear
projection for all words. Ma & Hovy (2016) and Lample et al. (2016) fine-tune the
embedding of every word they train on. Here each vectors row that the training data
uses gets a trainable correction, added to the pretrained row before the projection:

    output[i] = (V[row(word_i)] + D[index(row(word_i))]) @ W.T

D starts at zero, so training starts from the pretrained vectors; rows the training
data never uses (index 0) keep their pretrained value, as in the papers, where only
the rows a training word reaches ever receive a gradient. Case variants that share
a row (see ``scripts/init_glove_vectors.py``) share their correction.

The rows in use are counted from the component's training corpus by
``count_training_words`` (called by ``crf_tagger``/``crf_ner`` at initialisation)
and saved with the weights; until then every word keeps its pretrained vector.
"""
from typing import Callable, Iterable, List, Optional, Tuple

import numpy
from spacy.attrs import ORTH
from spacy.tokens import Doc
from spacy.vectors import Mode, Vectors
from thinc.api import Model
from thinc.initializers import glorot_uniform_init
from thinc.types import Ragged
from thinc.util import to_numpy

LAYER_NAME = "tuned_vectors"


def tuned_static_vectors(nO: Optional[int] = None) -> Model[List[Doc], Ragged]:
    """The pipeline's static vectors with a trainable correction per training word,
    projected to width nO. Input: Docs; output: Ragged of shape (n_tokens, nO).
    """
    return Model(
        LAYER_NAME,
        _forward,
        init=_init,
        params={"W": None, "D": None},
        dims={"nO": nO, "nM": None},
        attrs={"known_rows": numpy.zeros((0,), dtype="int64")},
    )


def _vectors(docs: List[Doc]) -> Vectors:
    vectors = docs[0].vocab.vectors
    if not isinstance(vectors, Vectors) or vectors.mode != Mode.default:
        raise ValueError(
            "Expected the pipeline's vectors to be a default-mode table (one row per "
            f"word) for fine-tuned static vectors, got {type(vectors).__name__} in mode "
            f"{getattr(vectors, 'mode', '?')!r}. Use `spacy init vectors` without "
            "--mode floret, or set fine_tune_vectors = false."
        )
    return vectors


def _rows(vectors: Vectors, docs: List[Doc]) -> numpy.ndarray:
    """Vectors row of every token (-1 where the word has no vector), shape (n_tokens,),
    on the CPU (``find`` answers on the table's device)."""
    key_attr = getattr(vectors, "attr", ORTH)
    keys = numpy.concatenate([doc.to_array(key_attr).reshape(-1) for doc in docs])
    return to_numpy(vectors.find(keys=keys)).astype("int64")


def _correction_index(known_rows: numpy.ndarray, rows: numpy.ndarray) -> numpy.ndarray:
    """1 + position of each row in the sorted ``known_rows``; 0 for rows not in it."""
    if known_rows.size == 0:
        return numpy.zeros(rows.shape, dtype="int64")
    at = numpy.searchsorted(known_rows, rows).clip(max=known_rows.size - 1)
    return numpy.where(known_rows[at] == rows, at + 1, 0)


def _forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[Ragged, Callable]:
    ops = model.ops
    lengths = ops.asarray1i([len(doc) for doc in docs])
    nO = model.get_dim("nO")
    if not sum(len(doc) for doc in docs):
        return Ragged(ops.alloc2f(0, nO), lengths), lambda d_output: []
    vectors = _vectors(docs)
    rows = _rows(vectors, docs)
    # Rows gathered on the model's device, as spaCy's StaticVectors does; no vector -> 0.
    V = ops.asarray2f(ops.asarray(vectors.data)[ops.asarray1i(rows.clip(min=0))])
    V *= ops.asarray2f((rows >= 0).astype("float32")[:, None])
    index = ops.asarray1i(_correction_index(model.attrs["known_rows"], rows))
    W = model.get_param("W")
    X = V + model.get_param("D")[index]
    output = Ragged(ops.gemm(X, W, trans2=True), lengths)

    def backprop(d_output: Ragged) -> List[Doc]:
        dY = d_output.data
        model.inc_grad("W", ops.gemm(dY, X, trans1=True))
        dD = ops.alloc2f(*model.get_param("D").shape)
        ops.scatter_add(dD, index, ops.gemm(dY, W))
        dD[0] = 0.0  # row 0 stands for "no correction" and stays zero
        model.inc_grad("D", dD)
        return []

    return output, backprop


def _init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    if X is not None and len(X):
        model.set_dim("nM", _vectors(X).shape[1])
    if not model.has_dim("nM") or not model.get_dim("nM"):
        raise ValueError(
            "Expected the pipeline to have static vectors for fine-tuned static vectors, "
            "got none. Set [initialize] vectors (--paths.vectors DIR) or turn "
            "include_static_vectors off."
        )
    nM, nO = model.get_dim("nM"), model.get_dim("nO")
    model.set_param("W", glorot_uniform_init(model.ops, (nO, nM)))
    _set_known_rows(model, numpy.zeros((0,), dtype="int64"))
    return model


def _set_known_rows(model: Model, known_rows: numpy.ndarray) -> None:
    model.attrs["known_rows"] = known_rows
    model.set_param("D", model.ops.alloc2f(known_rows.size + 1, model.get_dim("nM")))


def count_vector_rows(model: Model, docs: Iterable[Doc]) -> bool:
    """Give every ``tuned_vectors`` layer in ``model`` one zero correction per vectors
    row that the training Docs use. RETURNS (bool): Whether the model has such a layer."""
    layers = [node for node in model.walk() if node.name == LAYER_NAME]
    if not layers:
        return False
    docs = [doc for doc in docs if len(doc)]
    rows = numpy.unique(_rows(_vectors(docs), docs)) if docs else numpy.zeros((0,), dtype="int64")
    for layer in layers:
        _set_known_rows(layer, rows[rows >= 0])
    return True
