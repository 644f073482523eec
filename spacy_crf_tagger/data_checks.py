"""Checks of training and development data for ``crf_tagger`` and ``crf_ner``.

``spacy debug data`` runs its tagger and NER checks only for spaCy's own factory
names; these are the same kind of checks for ours, as plain functions that return a
report (the CLI, ``python -m spacy debug crf-data``, prints it).
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import numpy
from spacy.training import Example

from .errors import describe_doc
from .pipeline.base import MISSING, CRFPipe
from .pipeline.ner import CRFEntityRecognizer

# Below this many training examples a label gets a warning (spaCy's debug data uses 50).
LOW_COUNT = 50
# Docs longer than this get a warning: prediction memory grows with the longest Doc.
LONG_DOC_TOKENS = 5000


@dataclass
class DataReport:
    """What the checks found for one component.

    stats (Dict[str, object]): Figures (counts, shares) for display.
    train_labels (Counter): Entities (NER) or tokens (tagger) per label, train.
    dev_labels (Counter): The same for the dev set.
    warnings (List[str]): Problems that do not stop training.
    errors (List[str]): Problems that make training fail or go wrong.
    """

    component: str
    stats: Dict[str, object] = field(default_factory=dict)
    train_labels: Counter = field(default_factory=Counter)
    dev_labels: Counter = field(default_factory=Counter)
    warnings: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)


def _labels(pipe: CRFPipe, examples: Sequence[Example]) -> Counter:
    return Counter(pipe._labels_from_examples(examples))


def check_component(
    pipe: CRFPipe,
    train: Sequence[Example],
    dev: Sequence[Example],
    *,
    long_doc_tokens: int = LONG_DOC_TOKENS,
    low_count: int = LOW_COUNT,
) -> DataReport:
    """Check the examples a ``crf_tagger`` or ``crf_ner`` would train and be scored on.

    pipe (CRFPipe): The (uninitialised) component from the training config; its
        labels are set from ``train`` where it has none.
    train, dev (Sequence[Example]): The corpora, as ``spacy train`` reads them.
    RETURNS (DataReport): Figures, warnings and errors.
    """
    report = DataReport(pipe.name)
    report.train_labels = _labels(pipe, train)
    report.dev_labels = _labels(pipe, dev)
    n_tokens = sum(len(eg.predicted) for eg in train)
    report.stats.update(
        {
            "train docs": len(train),
            "train tokens": n_tokens,
            "dev docs": len(dev),
            "dev tokens": sum(len(eg.predicted) for eg in dev),
            "labels": len(report.train_labels),
        }
    )
    if not train or n_tokens == 0:
        report.errors.append("The training corpus is empty: check [paths] train.")
        return report
    if not report.train_labels:
        report.errors.append(
            f"No {_what(pipe)} annotation in the training corpus, so '{pipe.name}' has nothing to learn."
        )
        return report
    if not dev:
        report.warnings.append("The dev corpus is empty: training cannot score or pick a best model.")

    unseen = sorted(set(report.dev_labels) - set(report.train_labels))
    if unseen:
        counts = ", ".join(f"{label} ({report.dev_labels[label]})" for label in unseen)
        report.warnings.append(
            f"Labels in dev but not in train: {counts}. '{pipe.name}' cannot predict them; "
            "they are scored as misses."
        )
    low = sorted(label for label, n in report.train_labels.items() if n < low_count)
    if low:
        counts = ", ".join(f"{label} ({report.train_labels[label]})" for label in low)
        report.warnings.append(f"Fewer than {low_count} training examples for: {counts}.")

    for label in sorted(report.train_labels):
        pipe.add_label(label)
    _check_gold(pipe, train, report)

    long_docs = [eg.predicted for eg in train if len(eg.predicted) > long_doc_tokens]
    long_docs += [eg.predicted for eg in dev if len(eg.predicted) > long_doc_tokens]
    if long_docs:
        longest = max(len(doc) for doc in long_docs)
        report.warnings.append(
            f"{len(long_docs)} document(s) have more than {long_doc_tokens} tokens (longest "
            f"{longest}, e.g. {describe_doc(long_docs[0])}). They train in a batch of their own "
            "and memory grows with their length: split them (e.g. `spacy convert -n`) if "
            "training runs out of memory."
        )
    return report


def _what(pipe: CRFPipe) -> str:
    return "entity" if isinstance(pipe, CRFEntityRecognizer) else f"token.{getattr(pipe, 'attr', 'tag')}"


def _check_gold(pipe: CRFPipe, train: Sequence[Example], report: DataReport) -> None:
    """Gold tags as training reads them (after alignment to the tokenizer's tokens):
    the share that is missing, Docs with none, and gold the component rejects."""
    n_missing = n_tokens = 0
    unannotated: List[Example] = []
    rejected: List[str] = []
    for eg in train:
        try:
            ids = pipe._gold_tags(eg)
        except ValueError as err:
            rejected.append(str(err))
            continue
        missing = int(numpy.count_nonzero(ids == MISSING))
        n_missing += missing
        n_tokens += len(ids)
        if len(ids) and missing == len(ids):
            unannotated.append(eg)
    share = n_missing / max(n_tokens, 1)
    report.stats["missing annotation"] = f"{100 * share:.1f}% of tokens"
    if unannotated:
        report.warnings.append(
            f"{len(unannotated)} training document(s) have no {_what(pipe)} annotation at all (e.g. "
            f"{describe_doc(unannotated[0].reference)}); they are marginalised and teach nothing."
        )
    if 0.0 < share and len(unannotated) < len(train):
        report.stats["partial annotation"] = (
            "missing tags are marginalised in the CRF likelihood, not taught as a label"
        )
    if isinstance(pipe, CRFEntityRecognizer):
        lost = _entities_lost_in_alignment(train)
        if lost:
            report.warnings.append(
                f"{lost} gold entities do not line up with the tokenizer's tokens; their tokens "
                "are treated as unknown (marginalised). Fix their boundaries or the tokenizer."
            )
    if rejected:
        report.errors.append(f"{len(rejected)} training document(s) have unusable gold: {rejected[0]}")


def _entities_lost_in_alignment(examples: Sequence[Example]) -> int:
    lost = 0
    for eg in examples:
        aligned = eg.get_aligned_ner()
        for ent in eg.reference.ents:
            chars = eg.predicted.char_span(ent.start_char, ent.end_char)
            if chars is None:
                lost += 1
            elif any(aligned[t.i] in (None, "-") for t in chars):
                lost += 1
    return lost
