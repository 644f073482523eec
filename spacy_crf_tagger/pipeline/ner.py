"""The ``crf_ner`` component: named entities from a constrained linear-chain CRF, with
the exact probability of every predicted entity and k-best analyses."""
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Tuple

import numpy
import torch
from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Model

from .. import tag_schemes
from ..errors import describe_doc
from ..models.sequence_labeler import LabelerOutput
from .base import MISSING, CRFPipe
from .defaults import DEFAULT_NER_MODEL
from .gold import aligned_ner

Entity = Tuple[int, int, str, float]  # start, end (exclusive), label, probability (NaN: not computed)


@dataclass
class NERPrediction:
    """What ``CRFEntityRecognizer.predict`` returns for a batch.

    tag_ids (List[numpy.ndarray]): Decoded tag ids per Doc.
    entities (List[List[Entity]]): Entities per Doc, with their probability.
    """

    tag_ids: List[numpy.ndarray]
    entities: List[List[Entity]]


@Language.factory(
    "crf_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": DEFAULT_NER_MODEL,
        "scheme": "BILUO",
        "spans_key": "crf_ner",
        "threshold": 0.0,
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_crf_ner(
    nlp: Language,
    name: str,
    model: Model,
    scheme: str,
    spans_key: Optional[str],
    threshold: float,
    scorer: Optional[Callable],
) -> "CRFEntityRecognizer":
    """Create a ``crf_ner`` component.

    model (Model[List[Doc], LabelerOutput]): A ``spacy-crf-tagger.SequenceLabeler.v1``.
    scheme (str): Internal tag scheme, "BILUO" or "BIO".
    spans_key (Optional[str]): Key of the span group that holds every predicted
        entity with its probability in ``attrs["scores"]``. None: no span group, and
        unless ``threshold`` > 0 no probabilities either (the forward-backward pass
        is skipped, about 8% of the prediction time).
    threshold (float): Entities whose probability is below it are left out of
        ``doc.ents`` (they stay in the span group).
    scorer (Optional[Callable]): The scoring method.
    """
    return CRFEntityRecognizer(
        nlp.vocab, model, name, scheme=scheme, spans_key=spans_key, threshold=threshold, scorer=scorer
    )


class CRFEntityRecognizer(CRFPipe):
    """Named entity recognition with a linear-chain CRF whose invalid transitions
    (e.g. ``I-PER`` after ``O``) are excluded in training and decoding alike, so every
    decoded tag sequence is a valid set of entities."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "crf_ner",
        *,
        scheme: str = "BILUO",
        spans_key: Optional[str] = "crf_ner",
        threshold: float = 0.0,
        scorer: Optional[Callable] = None,
    ):
        tag_schemes.check_scheme(scheme)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"Expected a threshold between 0 and 1, got {threshold}.")
        super().__init__(
            vocab, model, name, scorer=scorer, scheme=scheme, spans_key=spans_key, threshold=threshold
        )

    @property
    def scheme(self) -> str:
        return self.cfg["scheme"]

    @property
    def tag_names(self) -> Tuple[str, ...]:
        key = (self.labels, self.scheme)
        cached = getattr(self, "_tag_names_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, tuple(tag_schemes.tag_names(self.labels, self.scheme)))
            self._tag_names_cache = cached
        return cached[1]

    def _configure_model(self) -> None:
        super()._configure_model()
        self.model.attrs["constraints"] = [m.tolist() for m in self._constraints()]

    # -- gold -----------------------------------------------------------------

    def _labels_from_examples(self, examples: Iterable[Example]) -> Iterable[str]:
        for eg in examples:
            for ent in eg.reference.ents:
                yield ent.label_

    def _gold_tags(self, example: Example) -> numpy.ndarray:
        index = self._tag_index()
        aligned = aligned_ner(example)
        ids = numpy.full((len(example.predicted),), MISSING, dtype="int64")
        for i, tag in enumerate(aligned):
            if tag is None or tag == "-" or tag == "":  # misaligned or not annotated
                continue
            tag = tag_schemes.biluo_to_scheme(tag, self.scheme)
            if tag not in index:
                label = tag_schemes.split_tag(tag)[1]
                raise ValueError(
                    f"Gold entity label {label!r} in {example.reference.text[:60]!r} is not one "
                    f"of the labels of '{self.name}' {list(self.labels)}. Initialise the "
                    "component on data that contains it, or add it to its labels."
                )
            ids[i] = index[tag]
        bad = tag_schemes.first_unreachable(ids, *self._constraints(), missing=MISSING)
        if bad is not None:
            # spaCy validates entity tags set through Doc.ents, but not ENT_IOB
            # arrays (Doc.from_array); never let them become a huge, silent loss.
            shown = ["-" if t == MISSING else self.tag_names[t] for t in ids[max(0, bad - 3) : bad + 2]]
            raise ValueError(
                f"The gold entity tags of {describe_doc(example.reference)} cannot be a valid "
                f"{self.scheme} sequence at token {bad} (tags around it: {shown}). Fix the "
                "entity annotation of this document (e.g. an I- tag after O)."
            )
        return ids

    def _constraints(self) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """The scheme's transition masks as bool arrays (allowed, start, end)."""
        cached = getattr(self, "_constraints_cache", None)
        if cached is None or cached[0] != self.tag_names:
            masks = tag_schemes.allowed_transitions(self.tag_names, self.scheme)
            cached = (self.tag_names, tuple(numpy.asarray(m, dtype=bool) for m in masks))
            self._constraints_cache = cached
        return cached[1]

    # -- prediction -------------------------------------------------------------

    def predict(self, docs: Iterable[Doc]) -> NERPrediction:
        """Decode each Doc and give every entity its exact probability.

        RETURNS (NERPrediction): Tag ids and scored entities per Doc.
        """
        return super().predict(docs)

    def _empty_result(self) -> Tuple[numpy.ndarray, List[Entity]]:
        return numpy.zeros((0,), dtype="int64"), []

    def _collect(self, results: list) -> NERPrediction:
        return NERPrediction([ids for ids, _ in results], [ents for _, ents in results])

    def _decode(self, out: LabelerOutput) -> List[Tuple[numpy.ndarray, List[Entity]]]:
        layer = self.output_layer
        with torch.no_grad():
            best, _ = layer.decode(out.potentials)
            tag_ids = self._unbatch(out, best.cpu().numpy())
            found = [self._entities(ids) for ids in tag_ids]
            # Forward-backward only over the rows that have entities, cut to their length.
            keep = [row for row, doc_i in enumerate(out.doc_index) if found[doc_i]]
            new_row = {out.doc_index[row]: i for i, row in enumerate(keep)}
            spans, excl = [], []
            for doc_i, ents in enumerate(found):
                for start, end, label in ents:
                    spans.append((new_row[doc_i], start, end - 1))
                    excl.append(self._next_excluded(label))
            probs: List[float] = [float("nan")] * len(spans)
            if spans and self._needs_probabilities():
                device = best.device
                width = max(out.lengths[out.doc_index[row]] for row in keep)
                rows = torch.tensor(keep, dtype=torch.long, device=device)
                p = out.potentials
                p = p._replace(emissions=p.emissions[rows, :width], mask=p.mask[rows, :width])
                log_p = layer.span_log_probs(
                    p,
                    best[rows, :width],
                    torch.tensor(spans, dtype=torch.long, device=device),
                    torch.tensor(excl, dtype=torch.long, device=device) if self.scheme == "BIO" else None,
                )
                probs = log_p.exp().clamp(0.0, 1.0).cpu().tolist()
        results = []
        n = 0
        for ids, ents in zip(tag_ids, found):
            results.append((ids, [(s, e, label, probs[n + k]) for k, (s, e, label) in enumerate(ents)]))
            n += len(ents)
        return results

    def _needs_probabilities(self) -> bool:
        return self.cfg["spans_key"] is not None or self.cfg["threshold"] > 0.0

    def _entities(self, tag_ids: numpy.ndarray) -> List[Tuple[int, int, str]]:
        tags = self.tag_names
        return tag_schemes.tags_to_spans([tags[i] for i in tag_ids], self.scheme)

    def _next_excluded(self, label: str) -> int:
        """In BIO an entity ends only where no I- tag of its label follows."""
        return self._tag_index().get(f"I-{label}", -1) if self.scheme == "BIO" else -1

    def set_annotations(self, docs: Iterable[Doc], predictions: NERPrediction) -> None:
        """Set ``doc.ents`` (entities at or above the threshold) and the span group
        ``doc.spans[spans_key]`` with every entity and ``attrs["scores"]``."""
        if isinstance(docs, Doc):
            docs = [docs]
        key, threshold = self.cfg["spans_key"], self.cfg["threshold"]
        for doc, ents in zip(docs, predictions.entities):
            spans = [Span(doc, start, end, label=label) for start, end, label, _ in ents]
            scores = numpy.asarray([p for *_, p in ents], dtype="float32")
            if key is not None:
                doc.spans[key] = SpanGroup(doc, name=key, spans=spans, attrs={"scores": scores})
            kept = [span for span, p in zip(spans, scores) if threshold <= 0.0 or p >= threshold]
            doc.set_ents(kept, default="outside")

    def kbest(self, docs: Iterable[Doc], k: int = 5) -> List[List[Tuple[List[Span], float]]]:
        """The k most probable analyses of each Doc, exact (k-best Viterbi).

        docs (Iterable[Doc]): The documents; they are not modified.
        k (int): How many analyses per Doc.
        RETURNS (List[List[Tuple[List[Span], float]]]): Per Doc, up to k pairs of
            (entity spans, probability of that whole tag sequence), best first.
        """
        if k < 1:
            raise ValueError(f"Expected k >= 1, got {k}.")
        docs = list(docs)
        result: List[List[Tuple[List[Span], float]]] = [[([], 1.0)] if len(d) == 0 else [] for d in docs]
        for index, out in self._run_model_grouped(docs):
            with torch.no_grad():
                paths, log_p = self.output_layer.kbest(out.potentials, k)
            paths, probs = paths.cpu().numpy(), log_p.exp().cpu().numpy()
            for row, doc_i in enumerate(out.doc_index):
                doc, n = docs[index[doc_i]], out.lengths[doc_i]
                for rank in range(paths.shape[1]):
                    if probs[row, rank] <= 0.0 or not numpy.isfinite(probs[row, rank]):
                        continue
                    ents = self._entities(paths[row, rank, :n])
                    spans = [Span(doc, s, e, label=label) for s, e, label in ents]
                    result[index[doc_i]].append((spans, float(probs[row, rank])))
        return result
