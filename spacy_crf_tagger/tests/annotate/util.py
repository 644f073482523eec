"""A tiny trained crf_tagger + crf_ner pipeline, generated documents, reference rows
from single-process ``nlp.pipe``, and a Ray worker that kills itself once."""
import json
import os
import random
import signal
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest
import spacy
from spacy.language import Language
from spacy.training import Example
from thinc.api import Adam

from ...annotate.ray_engine import PipelineAnnotator
from ...annotate.records import confidence_keys, doc_to_record
from ..pipeline.util import small_model

# Hand-written name lists and sentence frames (not from any corpus).
PEOPLE = [["Anna", "Smith"], ["Bob"], ["Carla", "Jones"], ["Dev", "Patel"], ["Eve"], ["Lars", "Berg"]]
PLACES = [["Paris"], ["New", "York"], ["Lagos"], ["Oslo"], ["Lima"], ["Cape", "Town"]]
ORGS = [["Acme", "Corp"], ["Globex"], ["Initech", "Labs"], ["Umbrella"]]
FRAMES = [
    [("PER", None), ("visited", "VBD"), ("LOC", None), ("yesterday", "NN"), (".", ".")],
    [("PER", None), ("works", "VBZ"), ("at", "IN"), ("ORG", None), (".", ".")],
    [("ORG", None), ("opened", "VBD"), ("an", "DT"), ("office", "NN"), ("in", "IN"), ("LOC", None)],
    [("The", "DT"), ("weather", "NN"), ("in", "IN"), ("LOC", None), ("was", "VBD"), ("cold", "JJ")],
    [("Nobody", "NN"), ("came", "VBD"), (".", ".")],
]
NAMES = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS}


def generate(n: int, seed: int = 0) -> List[Tuple[List[str], List[str], List[str]]]:
    """``n`` sentences as (words, PTB tags, BILUO entity tags)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words, tags, ents = [], [], []
        for word, tag in rng.choice(FRAMES):
            if tag is not None:
                words.append(word)
                tags.append(tag)
                ents.append("O")
                continue
            name = rng.choice(NAMES[word])
            words.extend(name)
            tags.extend(["NNP"] * len(name))
            ents.extend(
                [f"U-{word}"] if len(name) == 1 else [f"B-{word}"] + [f"I-{word}"] * (len(name) - 2) + [f"L-{word}"]
            )
        out.append((words, tags, ents))
    return out


def generate_texts(n: int, seed: int = 1) -> List[str]:
    """``n`` short documents; every 500th is empty, to check empty documents survive."""
    texts = [" ".join(words) for words, _, _ in generate(n, seed)]
    for i in range(0, n, 500):
        texts[i] = ""
    return texts


def train_pipeline(steps: int = 25) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_tagger", config={"model": small_model()})
    nlp.add_pipe("crf_ner", config={"model": small_model()})
    examples = []
    for words, tags, ents in generate(40):
        doc = spacy.tokens.Doc(nlp.vocab, words=words)
        examples.append(Example.from_dict(doc, {"tags": tags, "entities": ents}))
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


def write_jsonl(path: Path, texts: Sequence[str], ids: bool = True) -> Path:
    with path.open("w", encoding="utf8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"doc-{i}", "text": text} if ids else {"text": text}) + "\n")
    return path


def write_parquet(path: Path, texts: Sequence[str], ids: bool = True) -> Path:
    import pyarrow
    import pyarrow.parquet

    columns: Dict[str, Any] = {"text": list(texts)}
    if ids:
        columns["id"] = [f"doc-{i}" for i in range(len(texts))]
    pyarrow.parquet.write_table(pyarrow.table(columns), path, row_group_size=700)
    return path


def reference_rows(model: Path, texts: Sequence[str], ids: bool = True) -> List[Dict[str, Any]]:
    """What single-process ``nlp.pipe`` gives, as output rows."""
    nlp = spacy.load(model)
    keys = confidence_keys(nlp)
    docs = nlp.pipe(texts, batch_size=64)
    return [doc_to_record(doc, i, f"doc-{i}" if ids else None, keys) for i, doc in enumerate(docs)]


def assert_same_rows(actual: List[Dict[str, Any]], expected: List[Dict[str, Any]]) -> None:
    """Row for row equal; confidences to 1e-4 (batching and thread counts move the
    last float digits), everything else exactly."""
    assert len(actual) == len(expected)
    assert [r["row"] for r in actual] == list(range(len(expected)))
    for got, want in zip(actual, expected):
        got_conf = [e.pop("confidence") for e in got["entities"]]
        want_conf = [e.pop("confidence") for e in want["entities"]]
        assert got == want
        assert got_conf == pytest.approx(want_conf, abs=1e-4)
        for ents, conf in ((got["entities"], got_conf), (want["entities"], want_conf)):
            for e, c in zip(ents, conf):
                e["confidence"] = c


class KillOnceAnnotator(PipelineAnnotator):
    """The Ray worker, except that the first actor to reach its second batch kills
    its own process (SIGKILL), once per marker file: a worker lost mid-run."""

    def __init__(self, *args: Any, marker: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.marker = marker
        self.calls = 0

    def __call__(self, batch: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)
