"""Convert a corpus folder to corpus/<name>/{train,dev,test}.spacy with `spacy convert`.

    python scripts/convert_corpus.py DATA_DIR OUTPUT_DIR [--converter auto|conllu|ner] [-n 10]

DATA_DIR holds three files whose names contain train / dev / test, in one of:
  CoNLL-U (`*.conllu`: UD English-EWT, the bundled sample)   -> `spacy convert -c conllu`
  CoNLL NER (`*.iob`, or CoNLL-2003's eng.train / eng.testa / eng.testb) -> `spacy convert -c ner`
With both present (the bundled sample), `auto` picks CoNLL-U, which has tags and entities.
"""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Tuple

SPLITS = {"train": ("train",), "dev": ("dev", "testa"), "test": ("test", "testb")}
DOC_DELIMITER = "-DOCSTART- -X- O O"  # the document marker spaCy's ner converter splits at
FORMATS = {"conllu": ("*.conllu",), "ner": ("*.iob", "*.iob2", "*.conll", "eng.*")}


def find(data_dir: Path, converter: str) -> dict:
    """The file of each split: its name, split at . - _, contains the split's word."""
    files = {}
    for split, names in SPLITS.items():
        found = sorted(
            p
            for pattern in FORMATS[converter]
            for p in data_dir.glob(pattern)
            if set(re.split(r"[._-]", p.name)) & set(names)
        )
        if len(found) != 1:
            raise SystemExit(
                f"Expected one {converter} file for the {split} split in {data_dir} "
                f"(a name containing {' or '.join(names)}), found {[p.name for p in found]}."
            )
        files[split] = found[0]
    return files


def prepare_ner(path: Path, out: Path, sentence_docs: bool, n_sents: int) -> Tuple[Path, int]:
    """A copy of a CoNLL NER file that spaCy's ner converter splits as asked.

    The converter keeps documents whole only at lines exactly "-DOCSTART- -X- O O"
    (eng.train's form); eng.testa and eng.testb write "-DOCSTART- -X- -X- O", which it
    would read as a word inside 10-sentence groups. Without markers it groups -n
    sentences per Doc, so one sentence per Doc drops them and sets -n 1.
    """
    lines = path.read_text(encoding="utf8").splitlines(keepends=True)
    if sentence_docs:
        kept = [x for x in lines if not x.startswith("-DOCSTART-")]
        n_sents = 1
    else:
        kept = [DOC_DELIMITER + "\n" if x.startswith("-DOCSTART-") else x for x in lines]
    out.write_text("".join(kept), encoding="utf8")
    return out, n_sents


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("output_dir", type=Path)
    ap.add_argument("--converter", default="auto", choices=["auto", "conllu", "ner"])
    ap.add_argument("-n", "--n-sents", type=int, default=10, help="sentences per document")
    ap.add_argument(
        "--sentence-docs",
        choices=["true", "false"],
        default="false",
        help="CoNLL NER: one sentence per Doc, ignoring -DOCSTART- document boundaries "
        "(on CoNLL-2003 this trained better than whole documents: see docs/results.md)",
    )
    args = ap.parse_args()
    if not args.data_dir.is_dir():
        raise SystemExit(f"Expected a corpus folder at {args.data_dir}, found none.")
    converter = args.converter
    if converter == "auto":
        converter = "conllu" if any(args.data_dir.glob("*.conllu")) else "ner"
    files = find(args.data_dir, converter)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for split, path in files.items():
        with tempfile.TemporaryDirectory() as tmp:
            n_sents = args.n_sents
            if converter == "ner":
                path, n_sents = prepare_ner(path, Path(tmp) / f"{split}.iob", args.sentence_docs == "true", n_sents)
            out_dir = Path(tmp) / "out"
            out_dir.mkdir()
            cmd = [sys.executable, "-m", "spacy", "convert", str(path), str(out_dir), "-c", converter, "-n", str(n_sents)]
            subprocess.run(cmd, check=True)
            (out,) = out_dir.glob("*.spacy")
            shutil.move(str(out), args.output_dir / f"{split}.spacy")
        print(f"{files[split]} -> {args.output_dir / f'{split}.spacy'}")


if __name__ == "__main__":
    main()
