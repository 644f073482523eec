"""The ``crf_tagger`` component: part-of-speech tagging with a structured output
layer (a linear-chain CRF by default)."""
from typing import Callable, Dict, Iterable, List, Optional

import numpy
from spacy.attrs import POS, TAG
from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Model

from .base import MISSING, CRFPipe
from .defaults import DEFAULT_TAGGER_MODEL
from .gold import aligned_strings

ATTRS = {"tag": TAG, "pos": POS}



def score_tagging(examples: Iterable[Example], *, attr: str = "tag", **kwargs) -> Dict[str, float]:
    """Token accuracy of ``attr`` ("tag" -> ``tag_acc``, "pos" -> ``pos_acc``)."""
    return Scorer.score_token_attr(examples, attr, **kwargs)


def make_tagger_scorer() -> Callable:
    """Registered as ``spacy-crf-tagger.tagger_scorer.v1``. The component passes the
    attribute it predicts."""
    return score_tagging


@Language.factory(
    "crf_tagger",
    assigns=["token.tag", "token.pos"],
    default_config={
        "model": DEFAULT_TAGGER_MODEL,
        "attr": "tag",
        "overwrite": False,
        "scorer": {"@scorers": "spacy-crf-tagger.tagger_scorer.v1"},
    },
    default_score_weights={"tag_acc": 1.0, "pos_acc": None},
)
def make_crf_tagger(
    nlp: Language,
    name: str,
    model: Model,
    attr: str,
    overwrite: bool,
    scorer: Optional[Callable],
) -> "CRFTagger":
    """Create a ``crf_tagger``: it predicts ``token.tag`` (``attr = "tag"``) or the
    universal POS ``token.pos`` (``attr = "pos"``; score it with ``pos_acc``).

    model (Model[List[Doc], LabelerOutput]): A ``spacy-crf-tagger.SequenceLabeler.v1``.
    attr (str): "tag" or "pos".
    overwrite (bool): Replace annotation the Doc already has.
    scorer (Optional[Callable]): The scoring method.
    """
    return CRFTagger(nlp.vocab, model, name, attr=attr, overwrite=overwrite, scorer=scorer)


class CRFTagger(CRFPipe):
    """Assign part-of-speech tags with a structured (CRF) output layer."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "crf_tagger",
        *,
        attr: str = "tag",
        overwrite: bool = False,
        scorer: Optional[Callable] = score_tagging,
    ):
        if attr not in ATTRS:
            raise ValueError(
                f"crf_tagger predicts token.tag or token.pos: expected attr to be one of "
                f"{sorted(ATTRS)}, got {attr!r}."
            )
        super().__init__(vocab, model, name, scorer=scorer, attr=attr, overwrite=overwrite)

    @property
    def attr(self) -> str:
        return self.cfg["attr"]

    def _labels_from_examples(self, examples: Iterable[Example]) -> Iterable[str]:
        for eg in examples:
            for token in eg.reference:
                label = getattr(token, f"{self.attr}_")
                if label:
                    yield label

    def _gold_tags(self, example: Example) -> numpy.ndarray:
        index = self._tag_index()
        aligned = aligned_strings(example, self.attr.upper())
        ids = numpy.empty((len(aligned),), dtype="int64")
        for i, label in enumerate(aligned):
            if not label:  # None (misaligned) or "" (not annotated): marginalised
                ids[i] = MISSING
            elif label in index:
                ids[i] = index[label]
            else:
                raise ValueError(
                    f"Gold {self.attr} {label!r} in {example.reference.text[:60]!r} is not "
                    f"one of the {len(index)} labels of '{self.name}'. Initialise the "
                    "component on data that contains it, or add it to its labels."
                )
        return ids

    def set_annotations(self, docs: Iterable[Doc], batch_tag_ids: List[numpy.ndarray]) -> None:
        """Write the decoded tags to ``token.tag`` or ``token.pos``."""
        if isinstance(docs, Doc):
            docs = [docs]
        attr_id = ATTRS[self.attr]
        strings = self.vocab.strings
        values = numpy.asarray([strings.add(label) for label in self.labels], dtype="uint64")
        for doc, tag_ids in zip(docs, batch_tag_ids):
            if len(doc) == 0:
                continue
            new = values[numpy.asarray(tag_ids, dtype="int64")]
            if not self.cfg["overwrite"]:
                old = doc.to_array([attr_id]).astype("uint64")
                new = numpy.where(old == 0, new, old)
            doc.from_array([attr_id], new.reshape(-1, 1))

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, float]:
        """Token accuracy of the predicted attribute (``tag_acc`` or ``pos_acc``)."""
        return self.scorer(examples, attr=self.attr, **kwargs)
