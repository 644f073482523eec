"""Hand-crafted lexical features for a feature-based CRF, as CRFsuite-style taggers use
them: per token, hashed embeddings of attributes (word, affixes, shape/casing), and the
same for the neighbouring tokens, concatenated. No hidden layer and no mixing: with
``encoder = null`` and ``char_cnn = null`` the labeller's emission scores are then a
linear function of these features, i.e. a log-linear CRF over lexical features.
"""
from typing import List, Union

from spacy.ml.featureextractor import FeatureExtractor
from spacy.ml.staticvectors import StaticVectors
from spacy.tokens import Doc
from thinc.api import HashEmbed, Model, chain, concatenate, expand_window, list2ragged, ragged2list, with_array
from thinc.types import Floats2d

from .cpu_ops import with_numpy_blas


def build_lexical_features_v1(
    width: int,
    attrs: List[Union[str, int]],
    rows: List[int],
    window: int = 1,
    include_static_vectors: bool = False,
) -> Model[List[Doc], List[Floats2d]]:
    """Concatenated hashed embeddings of token attributes, over a window of tokens.
    Registered as ``spacy-crf-tagger.LexicalFeatures.v1``.

    width (int): Embedding width per attribute.
    attrs (List[Union[str, int]]): Token attributes, e.g. ["NORM", "PREFIX", "SUFFIX",
        "SHAPE"]; add "LOWER", "IS_TITLE", "IS_UPPER", "LIKE_NUM", ... for more.
    rows (List[int]): Hash table rows, one per attribute.
    window (int): Tokens on each side whose features are added (0: the token only).
    include_static_vectors (bool): Add the pipeline's static vectors (projected to
        ``width``) to each token's features.
    RETURNS (Model[List[Doc], List[Floats2d]]): Shape (len(doc), width * F * (2 * window + 1))
        per Doc, F the number of attributes (+ 1 with static vectors).
    """
    if len(attrs) != len(rows):
        raise ValueError(
            f"LexicalFeatures: expected one rows entry per attribute, got {len(attrs)} "
            f"attrs {list(attrs)} and {len(rows)} rows {list(rows)}."
        )
    if not attrs:
        raise ValueError("LexicalFeatures: expected at least one attribute in attrs, got none.")
    if width < 1 or window < 0:
        raise ValueError(f"LexicalFeatures: expected width >= 1 and window >= 0, got {width} and {window}.")
    embeddings = [HashEmbed(width, n, column=i, seed=11 + i, dropout=0.0) for i, n in enumerate(rows)]
    hashed = chain(FeatureExtractor(list(attrs)), list2ragged(), with_array(concatenate(*embeddings)))
    n_features = len(attrs)
    if include_static_vectors:
        hashed = concatenate(hashed, StaticVectors(width, dropout=0.0))
        n_features += 1
    layers = [hashed]
    if window > 0:
        layers.append(expand_window(window_size=window))  # does not cross Doc boundaries
    model = chain(*layers, ragged2list())
    model.set_dim("nO", width * n_features * (2 * window + 1))
    model.name = "lexical_features"
    return with_numpy_blas(model)
