"""Write the raw texts of a corpus folder as JSONL ({"id": ..., "text": ...} per line),
the input of `spacy crf-annotate`.

CoNLL-U files give one text per sentence (their `# text =` lines); CoNLL NER files
(*.iob, eng.*) give one text per sentence, its tokens joined by spaces.

    python scripts/corpus_texts.py assets/sample corpus/sample/texts.jsonl
"""
import argparse
import json
from pathlib import Path
from typing import Iterator, Tuple


def conllu_texts(path: Path) -> Iterator[str]:
    with path.open(encoding="utf8") as f:
        for line in f:
            if line.startswith("# text = "):
                yield line[len("# text = ") :].strip()


def iob_texts(path: Path) -> Iterator[str]:
    words = []
    with path.open(encoding="utf8") as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if words:
                    yield " ".join(words)
                words = []
            else:
                words.append(fields[0])
    if words:
        yield " ".join(words)


def corpus_texts(data_dir: Path) -> Iterator[Tuple[str, str]]:
    """YIELDS (Tuple[str, str]): (id, text), ids like "train-0"."""
    files = sorted(data_dir.glob("*.conllu")) or sorted(
        p for p in data_dir.iterdir() if p.suffix == ".iob" or p.name.startswith("eng.")
    )
    if not files:
        raise SystemExit(f"Expected *.conllu or CoNLL NER (*.iob, eng.*) files in {data_dir}, found none.")
    for path in files:
        read = conllu_texts if path.suffix == ".conllu" else iob_texts
        for i, text in enumerate(read(path)):
            yield f"{path.stem}-{i}", text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with args.output.open("w", encoding="utf8") as f:
        for doc_id, text in corpus_texts(args.data_dir):
            f.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
            n += 1
    print(f"Wrote {n} texts to {args.output}")


if __name__ == "__main__":
    main()
