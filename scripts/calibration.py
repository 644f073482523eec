"""Reliability of crf_ner's entity probabilities: for every predicted entity (threshold
ignored), is it exactly right (same start, end and label as a gold entity)? Bins the
probabilities, compares each bin's mean probability with its accuracy, and reports the
expected calibration error (ECE).

    python scripts/calibration.py MODEL DATA.spacy OUTPUT.json [--bins 10]
"""
import argparse
import json
from pathlib import Path

import numpy
import spacy
from spacy.training import Corpus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("data", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--component", default="crf_ner")
    args = ap.parse_args()
    nlp = spacy.load(args.model)
    key = nlp.get_pipe(args.component).cfg["spans_key"]
    examples = list(Corpus(args.data)(nlp))
    probs, correct = [], []
    for eg, doc in zip(examples, nlp.pipe(eg.predicted for eg in examples)):
        gold = {(e.start, e.end, e.label_) for e in eg.reference.ents}
        group = doc.spans[key]
        for span, p in zip(group, group.attrs["scores"]):
            probs.append(float(p))
            correct.append((span.start, span.end, span.label_) in gold)
    probs_a, correct_a = numpy.asarray(probs), numpy.asarray(correct, dtype=float)
    edges = numpy.linspace(0.0, 1.0, args.bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (probs_a >= lo) & ((probs_a < hi) if hi < 1.0 else (probs_a <= hi))
        n = int(in_bin.sum())
        conf = float(probs_a[in_bin].mean()) if n else None
        acc = float(correct_a[in_bin].mean()) if n else None
        if n:
            ece += n / len(probs_a) * abs(acc - conf)
        rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": n, "mean_probability": conf, "accuracy": acc})
    result = {"entities": len(probs), "precision": float(correct_a.mean()) if probs else None, "ece": ece, "bins": rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(f"{len(probs)} predicted entities, precision {result['precision']:.4f}, ECE {ece:.4f}")
    print("| bin | entities | mean probability | accuracy |\n|---|---:|---:|---:|")
    for r in rows:
        if r["n"]:
            print(f"| {r['bin']} | {r['n']} | {r['mean_probability']:.3f} | {r['accuracy']:.3f} |")


if __name__ == "__main__":
    main()
