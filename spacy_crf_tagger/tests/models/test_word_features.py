"""The labeller's input width comes from its word features: a tok2vec of its own or a
listener to a shared component; a listener nothing connected to is a clear error."""
from typing import List

import pytest
import spacy
from spacy.pipeline.tok2vec import Tok2VecListener
from spacy.training import Example
from thinc.api import Adam, Model

from ...models.sequence_labeler import build_sequence_labeler_v1
from ...models.word_features import output_width, require_connected_listeners, unconnected_listeners
from ..pipeline.util import TAGGED

TOK2VEC = {
    "model": {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 24, "attrs": ["NORM", "SHAPE"],
                  "rows": [200, 50], "include_static_vectors": False},
        "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 24, "depth": 1,
                   "window_size": 1, "maxout_pieces": 2},
    }
}


def test_shared_tok2vec_listener_gives_the_width_and_learns_from_the_crf():
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec", config=TOK2VEC)
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 24, "upstream": "*"}
    nlp.add_pipe("crf_tagger", config={"model": {"tok2vec": listener, "char_cnn": None, "encoder": None}})
    examples = [Example.from_dict(nlp.make_doc(text), {"tags": tags}) for text, tags in TAGGED]
    nlp.initialize(lambda: examples)
    assert nlp.get_pipe("crf_tagger").model.get_dim("nI") == 24
    shared = nlp.get_pipe("tok2vec").model
    before = params(shared)
    optimizer = Adam(0.01)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    after = params(shared)
    assert all((before[key] != after[key]).any() for key in before)


def params(model: Model) -> dict:
    """A copy of every parameter of every layer of ``model``."""
    return {
        (node.id, name): node.get_param(name).copy()
        for node in model.walk()
        for name in node.param_names
        if node.has_param(name)
    }


def test_listener_without_width_is_reported():
    listener = Tok2VecListener(upstream_name="tok2vec", width=None)
    assert unconnected_listeners(listener) == [listener]
    with pytest.raises(ValueError, match="no upstream component has connected") as err:
        require_connected_listeners(listener)
    assert "'tok2vec'" in str(err.value)
    model = build_sequence_labeler_v1(tok2vec=listener, nO=3)
    with pytest.raises(ValueError, match="no upstream component has connected"):
        model.initialize()


def _no_width_forward(model: Model, docs: List, is_train: bool):
    return [model.ops.alloc2f(len(doc), 4) for doc in docs], lambda d: []


def test_word_features_without_width_are_reported():
    features = Model("no_width", _no_width_forward, dims={"nO": None})
    with pytest.raises(ValueError, match="Expected the word features 'no_width' to know their width"):
        output_width(features)
    with pytest.raises(ValueError, match="know their width"):
        build_sequence_labeler_v1(tok2vec=features, nO=3).initialize()
