"""Words per second of a pipeline by document length and batch size: the cost of
annotating should grow linearly with the text, so the figures should stay flat.

    python scripts/cost_growth.py MODEL metrics/cost_growth.json [--lengths 10 100 1000 10000] [--batches 1 10 100 1000]
        [--reference OTHER_MODEL] [--repeats 3]

Documents are made of sentences from the bundled sample corpus, repeated. A cell whose
batch would hold more than --max-batch-tokens tokens is skipped (shown as "-"). With
--reference (e.g. a pipeline with spaCy's own `ner`) the same cell is timed for it right
after ours, and the table shows the ratio ours / reference.
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


def words_per_second(nlp, texts: list, batch: int) -> float:
    list(nlp.pipe([Doc(nlp.vocab, words=w) for w in texts[:batch]], batch_size=batch))  # warm up
    docs = [Doc(nlp.vocab, words=w) for w in texts]
    start = time.perf_counter()
    for _ in nlp.pipe(docs, batch_size=batch):
        pass
    return sum(len(w) for w in texts) / (time.perf_counter() - start)


def cell(row: dict) -> str:
    if row["words_per_second"] is None:
        return "-"
    text = f"{row['words_per_second']:,.0f}"
    if row.get("reference_words_per_second"):
        text += f" ({row['words_per_second'] / row['reference_words_per_second']:.2f}x)"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("output", type=Path)
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--min-tokens", type=int, default=20000, help="tokens timed per cell (at least one batch)")
    parser.add_argument("--max-batch-tokens", type=int, default=200000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reference", default=None, help="another pipeline timed on the same cells")
    parser.add_argument("--repeats", type=int, default=3, help="timings per cell; the best counts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    nlp = spacy.load(args.model)
    reference = spacy.load(args.reference) if args.reference else None
    words = sample_words(nlp)
    rows = []
    for length in args.lengths:
        for batch in args.batches:
            row = {"doc_tokens": length, "batch_docs": batch, "words_per_second": None}
            if reference is not None:
                row["reference_words_per_second"] = None
            rows.append(row)
            if length * batch > args.max_batch_tokens:
                continue
            n_docs = max(batch, -(-args.min_tokens // length))
            texts = [[words[(i * length + j) % len(words)] for j in range(length)] for i in range(n_docs)]
            # Best of --repeats, ours and the reference alternating: the load of a
            # shared machine only ever slows a run down.
            ours, theirs = [], []
            for _ in range(args.repeats):
                ours.append(words_per_second(nlp, texts, batch))
                if reference is not None:
                    theirs.append(words_per_second(reference, texts, batch))
            row["words_per_second"] = max(ours)
            line = f"{length:>6} tokens/doc x {batch:>5} docs/batch: {row['words_per_second']:>9,.0f} words/s"
            if reference is not None:
                row["reference_words_per_second"] = max(theirs)
                line += f" (reference {row['reference_words_per_second']:,.0f})"
            print(line)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {"model": args.model, "reference": args.reference, "threads": args.threads, "rows": rows}
    args.output.write_text(json.dumps(result, indent=2))
    header = "| tokens per doc | " + " | ".join(f"batch {b}" for b in args.batches) + " |"
    print("\n" + header + "\n|---|" + "---:|" * len(args.batches))
    for length in args.lengths:
        cells = [r for r in rows if r["doc_tokens"] == length]
        fmt = [cell(r) for r in cells]
        print(f"| {length:,} | " + " | ".join(fmt) + " |")


if __name__ == "__main__":
    main()
