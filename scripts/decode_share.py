"""Share of a CRF component's predict time spent in Viterbi decoding and in the exact
entity probabilities (forward-backward), over a corpus.

    python scripts/decode_share.py MODEL CORPUS.spacy metrics/decode_share.json [--batch-size 64] [--threads 1]

Times the output layer's ``decode`` and ``span_log_probs`` inside ``predict`` with
wall-clock timers, for every CRF component of the pipeline.
"""
import argparse
import json
import time
from pathlib import Path

import spacy
import torch
from spacy.tokens import Doc, DocBin

from spacy_crf_tagger.models.pytorch.output_layers import CRFOutput
from spacy_crf_tagger.pipeline.base import CRFPipe

TIMED = {"predict": (CRFPipe, "predict"), "viterbi": (CRFOutput, "decode"), "confidences": (CRFOutput, "span_log_probs")}


def timed(totals: dict, name: str, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - start

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("corpus")
    parser.add_argument("output", type=Path)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    nlp = spacy.load(args.model)
    words = [[t.text for t in doc] for doc in DocBin().from_disk(args.corpus).get_docs(nlp.vocab)]
    totals = {name: 0.0 for name in TIMED}
    for name, (owner, attr) in TIMED.items():
        setattr(owner, attr, timed(totals, name, getattr(owner, attr)))
    list(nlp.pipe([Doc(nlp.vocab, words=w) for w in words[:200]], batch_size=args.batch_size))  # warm-up
    for name in totals:
        totals[name] = 0.0
    for _ in range(args.repeats):
        docs = [Doc(nlp.vocab, words=w) for w in words]
        list(nlp.pipe(docs, batch_size=args.batch_size))
    n_words = sum(len(w) for w in words) * args.repeats
    result = {
        "model": args.model,
        "corpus": args.corpus,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "words": n_words,
        "predict_words_per_second": n_words / totals["predict"],
        "seconds": totals,
        "viterbi_share": totals["viterbi"] / totals["predict"],
        "confidences_share": totals["confidences"] / totals["predict"],
        "decoding_and_confidences_share": (totals["viterbi"] + totals["confidences"]) / totals["predict"],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
