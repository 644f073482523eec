"""Small pipelines and data for the component tests."""
from typing import Any, Dict, List, Optional, Tuple

import spacy
from spacy.language import Language
from spacy.training import Example
from thinc.api import Adam

# Hand-written sentences with PTB tags (not from any corpus).
TAGGED = [
    ("I like green eggs", ["PRP", "VBP", "JJ", "NNS"]),
    ("Eat blue ham", ["VB", "JJ", "NN"]),
    ("She reads old books quickly", ["PRP", "VBZ", "JJ", "NNS", "RB"]),
    ("Dogs bark", ["NNS", "VBP"]),
]

# Hand-written sentences (not from any corpus) with BILUO entity tags.
ENTITIES = [
    ("Anna Smith visited Paris", ["B-PER", "L-PER", "O", "U-LOC"]),
    ("Bob works at Acme Corp", ["U-PER", "O", "O", "B-ORG", "L-ORG"]),
    ("Nobody came", ["O", "O"]),
    ("They flew from Lagos to New York City", ["O", "O", "O", "U-LOC", "O", "B-LOC", "I-LOC", "L-LOC"]),
]

# A model small enough to train in a few seconds.
SMALL_MODEL: Dict[str, Any] = {
    "tok2vec": {"width": 16, "rows": [500, 100, 100, 50]},
    "char_cnn": {"embed_size": 8, "filters": 8},
    "encoder": {"hidden_size": 16},
    "dropout": 0.0,
}


# A small shared `tok2vec` component, and the listener our components use to read it.
SHARED_TOK2VEC: Dict[str, Any] = {
    "@architectures": "spacy.Tok2Vec.v2",
    "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 16, "attrs": ["NORM", "SHAPE"],
              "rows": [200, 50], "include_static_vectors": False},
    "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 16, "depth": 1,
               "window_size": 1, "maxout_pieces": 2},
}
LISTENER: Dict[str, Any] = {"@architectures": "spacy.Tok2VecListener.v1", "width": 16, "upstream": "tok2vec"}


def small_model(**changes: Any) -> Dict[str, Any]:
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in SMALL_MODEL.items()}
    cfg.update(changes)
    return cfg


def tagger_nlp(model: Optional[Dict[str, Any]] = None, **component: Any) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_tagger", config={"model": model or small_model(), **component})
    return nlp


def tagged_examples(nlp: Language, data=TAGGED, key: str = "tags") -> List[Example]:
    return [Example.from_dict(nlp.make_doc(text), {key: tags}) for text, tags in data]


def entity_examples(nlp: Language, data=ENTITIES) -> List[Example]:
    return tagged_examples(nlp, data, key="entities")


def train(nlp: Language, examples: List[Example], steps: int = 60) -> Tuple[Any, Dict[str, float]]:
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    losses: Dict[str, float] = {}
    for _ in range(steps):
        losses = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
    return optimizer, losses
