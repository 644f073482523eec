"""Words per second of a pipeline by document length and batch size: the cost of
annotating should grow linearly with the text, so the figures should stay flat.

    python scripts/cost_growth.py MODEL metrics/cost_growth.json [--lengths 10 100 1000 10000] [--batches 1 10 100 1000]

Documents are made of sentences from the bundled sample corpus, repeated. A cell whose
batch would hold more than --max-batch-tokens tokens is skipped (shown as "-").
"""
import argparse
import json
import time
from pathlib import Path

import spacy
import torch
from spacy.tokens import Doc, DocBin

SAMPLE = Path(__file__).resolve().parent.parent / "assets" / "sample"


def sample_words(nlp) -> list:
    path = SAMPLE / "train.spacy"
    if path.exists():
        docs = DocBin().from_disk(path).get_docs(nlp.vocab)
        return [t.text for d in docs for t in d]
    text = (SAMPLE / "train.conllu").read_text(encoding="utf8")
    return [line.split("\t")[1] for line in text.splitlines() if line and line[0].isdigit()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("output", type=Path)
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--min-tokens", type=int, default=20000, help="tokens timed per cell (at least one batch)")
    parser.add_argument("--max-batch-tokens", type=int, default=200000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    nlp = spacy.load(args.model)
    words = sample_words(nlp)
    rows = []
    for length in args.lengths:
        for batch in args.batches:
            if length * batch > args.max_batch_tokens:
                rows.append({"doc_tokens": length, "batch_docs": batch, "words_per_second": None})
                continue
            n_docs = max(batch, -(-args.min_tokens // length))
            docs = [
                Doc(nlp.vocab, words=[words[(i * length + j) % len(words)] for j in range(length)])
                for i in range(n_docs)
            ]
            list(nlp.pipe(docs[:batch], batch_size=batch))  # warm up
            docs = [Doc(nlp.vocab, words=[t.text for t in d]) for d in docs]
            start = time.perf_counter()
            for _ in nlp.pipe(docs, batch_size=batch):
                pass
            seconds = time.perf_counter() - start
            wps = n_docs * length / seconds
            rows.append({"doc_tokens": length, "batch_docs": batch, "words_per_second": wps})
            print(f"{length:>6} tokens/doc x {batch:>5} docs/batch: {wps:>9,.0f} words/s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"model": args.model, "threads": args.threads, "rows": rows}, indent=2))
    header = "| tokens per doc | " + " | ".join(f"batch {b}" for b in args.batches) + " |"
    print("\n" + header + "\n|---|" + "---:|" * len(args.batches))
    for length in args.lengths:
        cells = [r for r in rows if r["doc_tokens"] == length]
        fmt = ["-" if r["words_per_second"] is None else f"{r['words_per_second']:,.0f}" for r in cells]
        print(f"| {length:,} | " + " | ".join(fmt) + " |")


if __name__ == "__main__":
    main()
