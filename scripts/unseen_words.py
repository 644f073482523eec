"""Tagging accuracy on words seen and unseen in training: runs a tagger over the gold
tokens of a corpus (no retokenisation, so every token is scored) and splits the
accuracy by whether the token's text occurs in the training corpus.

    python scripts/unseen_words.py MODEL TRAIN.spacy TEST.spacy OUTPUT.json [--attr tag]
"""
import argparse
import json
from pathlib import Path
from typing import Dict, List, Optional, Set

import spacy
from spacy.tokens import Doc, DocBin


def gold_docs(path: Path, vocab) -> List[Doc]:
    return list(DocBin().from_disk(path).get_docs(vocab))


def accuracy_by_seen(nlp, seen: Set[str], gold: List[Doc], attr: str, pipes: List[str], batch_size: int) -> Dict:
    """Run ``pipes`` of ``nlp`` over the gold words of ``gold`` and score ``attr``
    ("tag" or "pos") on the tokens whose text is in ``seen`` and on the others.
    Tokens without a gold value are left out."""
    # The gold words and spaces, without their annotation.
    predicted = [Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc]) for doc in gold]
    with nlp.select_pipes(enable=pipes):
        predicted = list(nlp.pipe(predicted, batch_size=batch_size))
    counts = {"seen": [0, 0], "unseen": [0, 0]}
    name = f"{attr}_"
    for gold_doc, doc in zip(gold, predicted):
        for g, p in zip(gold_doc, doc):
            if not getattr(g, name):
                continue
            group = counts["seen" if g.text in seen else "unseen"]
            group[0] += getattr(g, name) == getattr(p, name)
            group[1] += 1
    right = sum(c[0] for c in counts.values())
    total = sum(c[1] for c in counts.values())
    return {
        "attr": attr,
        "accuracy": right / total if total else None,
        **{f"{k}_tokens": c[1] for k, c in counts.items()},
        **{f"{k}_accuracy": c[0] / c[1] if c[1] else None for k, c in counts.items()},
    }


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("train", type=Path)
    ap.add_argument("test", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--attr", default="tag", choices=["tag", "pos"])
    ap.add_argument("--component", default=None, help="the tagging pipe (default: every pipe runs)")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)
    nlp = spacy.load(args.model)
    seen = {token.text for doc in gold_docs(args.train, nlp.vocab) for token in doc}
    pipes = [args.component] if args.component else nlp.pipe_names
    scores = accuracy_by_seen(nlp, seen, gold_docs(args.test, nlp.vocab), args.attr, pipes, args.batch_size)
    result = {"model": args.model, **scores}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
