"""The width of the word features (the labeller's ``tok2vec``), which becomes the
network's input width nI.

A tok2vec of its own (``spacy.MultiHashEmbed.v2``, ...) knows its width from its
settings. A listener (``spacy.Tok2VecListener.v1``,
``spacy-transformers.TransformerListener.v1``) learns it from the upstream component
it listens to (``tok2vec``, ``transformer``) when that component is initialised and
finds its listeners, so the upstream component has to come first in the pipeline.
"""
from typing import List

from spacy.vocab import Vocab
from thinc.api import Model


def unconnected_listeners(tok2vec: Model) -> List[Model]:
    """Listener layers inside ``tok2vec`` whose width (dimension nO) is still unset,
    i.e. that no upstream component has found yet.

    RETURNS (List[Model]): The listeners; empty when there are none or all are set.
    """
    return [
        node
        for node in tok2vec.walk()
        if hasattr(node, "upstream_name") and node.has_dim("nO") is None
    ]


def require_connected_listeners(tok2vec: Model) -> None:
    """Raise a ValueError that says what to fix when a listener in ``tok2vec`` has not
    been connected to its upstream component."""
    listeners = unconnected_listeners(tok2vec)
    if not listeners:
        return
    described = ", ".join(f"'{node.name}' (upstream {node.upstream_name!r})" for node in listeners)
    raise ValueError(
        "Cannot initialise the sequence labeller: its word features listen to an upstream "
        "component, but no upstream component has connected to the listener(s) "
        f"{described}, so their width is unknown. Expected the listened-to component "
        "(e.g. 'transformer' or 'tok2vec') to come before this component in [nlp] "
        "pipeline and to be initialised with it (nlp.initialize). Move it first in the "
        "pipeline, check the listener's `upstream` name, or give this component a "
        "tok2vec of its own."
    )


# Layers that read the pipeline's vectors table (spaCy's StaticVectors, ours).
VECTOR_LAYERS = ("static_vectors", "tuned_vectors")


def require_vectors(tok2vec: Model, vocab: Vocab, component: str) -> None:
    """Raise a ValueError that says what to fix when ``tok2vec`` reads static vectors
    but the pipeline has none (spaCy's StaticVectors would fail at the first Doc)."""
    if not any(node.name in VECTOR_LAYERS for node in tok2vec.walk()):
        return
    if vocab.vectors.shape[0] and vocab.vectors.shape[1]:
        return
    raise ValueError(
        f"Expected the pipeline to have static vectors: the word features of '{component}' "
        f"include them (include_static_vectors = true), got an empty vectors table of shape "
        f"{vocab.vectors.shape}. Set [paths] vectors (--paths.vectors DIR, e.g. "
        "assets/vectors/glove_6b_50d made by `weasel run vectors`), or set "
        "include_static_vectors = false."
    )


def output_width(tok2vec: Model) -> int:
    """The width of the word features, once ``tok2vec`` is initialised.

    RETURNS (int): tok2vec's nO.
    """
    if tok2vec.has_dim("nO") is not True:
        raise ValueError(
            f"Expected the word features '{tok2vec.name}' to know their width (dimension "
            "nO) after initialisation, got none. Initialise the labeller with sample "
            "Docs (model.initialize(X=docs)); the components do this in nlp.initialize()."
        )
    return tok2vec.get_dim("nO")
