"""Pipelines and data for the transformer tests: a `transformer` component running the
tiny local BERT (see ../tiny_bert.py) and a CRF component listening to it."""
from pathlib import Path
from typing import Dict, List, Optional

import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

# Hand-written sentences (not from any corpus): text, PTB tags, entities as
# (first token, end token, label).
SENTENCES = [
    ("Anna Kowalski flew to Nairobi", ["NNP", "NNP", "VBD", "TO", "NNP"], [(0, 2, "PER"), (4, 5, "LOC")]),
    ("She reads old books in Lima", ["PRP", "VBZ", "JJ", "NNS", "IN", "NNP"], [(5, 6, "LOC")]),
    ("Acme Corp hired Tomas", ["NNP", "NNP", "VBD", "NNP"], [(0, 2, "ORG"), (3, 4, "PER")]),
    ("Dogs bark", ["NNS", "VBP"], []),
]

LISTENER = {
    "@architectures": "spacy-transformers.TransformerListener.v1",
    "grad_factor": 1.0,
    "upstream": "*",
    "pooling": {"@layers": "reduce_mean.v1"},
}
SMALL_ENCODER = {"@architectures": "spacy-crf-tagger.RNNEncoder.v1", "hidden_size": 16}


def annotated_doc(nlp: Language, text: str, tags: List[str], ents) -> Doc:
    doc = nlp.make_doc(text)
    for token, tag in zip(doc, tags):
        token.tag_ = tag
    doc.ents = [Span(doc, start, end, label) for start, end, label in ents]
    return doc


def write_corpus(path: Path, copies: int = 2) -> Path:
    """The sentences as a .spacy file with tags and entities."""
    nlp = spacy.blank("en")
    db = DocBin()
    for text, tags, ents in SENTENCES * copies:
        db.add(annotated_doc(nlp, text, tags, ents))
    db.to_disk(path)
    return path


def examples(nlp: Language) -> List[Example]:
    return [
        Example(nlp.make_doc(text), annotated_doc(nlp, text, tags, ents)) for text, tags, ents in SENTENCES
    ]


def transformer_config(model_dir: Path) -> Dict:
    return {
        "model": {
            "@architectures": "spacy-transformers.TransformerModel.v3",
            "name": str(model_dir),
            "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 64, "stride": 48},
            "tokenizer_config": {"use_fast": True},
        }
    }


def trf_nlp(
    model_dir: Path,
    component: str = "crf_ner",
    encoder: Optional[Dict] = SMALL_ENCODER,
    grad_factor: float = 1.0,
    transformer_first: bool = True,
) -> Language:
    """``transformer`` -> ``component`` (listening), optionally with a BiLSTM."""
    nlp = spacy.blank("en")
    listener = {**LISTENER, "grad_factor": grad_factor}
    model = {"tok2vec": listener, "char_cnn": None, "encoder": encoder, "dropout": 0.0}
    if transformer_first:
        nlp.add_pipe("transformer", config=transformer_config(model_dir))
    nlp.add_pipe(component, config={"model": model})
    if not transformer_first:
        nlp.add_pipe("transformer", config=transformer_config(model_dir))
    return nlp


def transformer_weights(nlp: Language) -> Dict[str, torch.Tensor]:
    """A copy of the Hugging Face model's weights inside the ``transformer`` component."""
    shim = next(node for node in nlp.get_pipe("transformer").model.walk() if node.shims).shims[0]
    return {k: v.detach().clone() for k, v in shim._model.state_dict().items()}


def changed_weights(before: Dict[str, torch.Tensor], after: Dict[str, torch.Tensor]) -> List[str]:
    return [k for k in before if not torch.equal(before[k], after[k])]
