#!/usr/bin/env python3
"""Build the small annotated sample corpus shipped with this project.

Reads the hand-written source file ``scripts/sample_corpus_source.txt`` and
writes, deterministically:

* ``assets/sample/{train,dev,test}.conllu`` -- CoNLL-U with PTB XPOS, UPOS
  derived from XPOS, lowercase lemmas, a trivial flat tree and NER tags
  (``NE=B-PER`` / ``NE=I-PER`` / ``NE=O``, IOB2) in the MISC column, in the
  form read by ``spacy convert -c conllu``.
* ``assets/sample/{train,dev,test}.iob`` -- CoNLL-2003 style
  ``word POS CHUNK NER`` lines with IOB1 entity tags and ``-DOCSTART-``
  document boundaries every 10 sentences.
* ``assets/sample/README.md`` -- description and counts.

Source format: one sentence per line, tokens ``word/XPOS`` separated by
spaces, entities written as ``[TYPE tok/TAG tok/TAG]`` with TYPE one of
PER, ORG, LOC, MISC.  Blank lines and lines starting with ``#`` are ignored.

Usage::

    python scripts/build_sample_corpus.py [--source PATH] [--out-dir DIR]

Standard library only.  Exits with status 1 and a message naming the
offending line when the source is malformed.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT / "scripts" / "sample_corpus_source.txt"
DEFAULT_OUT_DIR = ROOT / "assets" / "sample"

ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
SPLITS = (("train", 300), ("dev", 60), ("test", 60))
DOC_SIZE = 10  # sentences per document
# The document delimiter of the CoNLL-2003 files spaCy's `convert -c ner` reads
# (and the one in ../shared/data/conll2003_en).
DOCSTART = "-DOCSTART- -X- O O"

# Penn Treebank XPOS -> Universal POS.
XPOS_TO_UPOS = {
    "NN": "NOUN", "NNS": "NOUN",
    "NNP": "PROPN", "NNPS": "PROPN",
    "VB": "VERB", "VBD": "VERB", "VBG": "VERB", "VBN": "VERB",
    "VBP": "VERB", "VBZ": "VERB",
    "MD": "AUX",
    "JJ": "ADJ", "JJR": "ADJ", "JJS": "ADJ",
    "RB": "ADV", "RBR": "ADV", "RBS": "ADV", "WRB": "ADV",
    "DT": "DET", "PDT": "DET", "WDT": "DET",
    "IN": "ADP",
    "CC": "CCONJ",
    "PRP": "PRON", "PRP$": "PRON", "WP": "PRON", "WP$": "PRON", "EX": "PRON",
    "CD": "NUM",
    "POS": "PART", "RP": "PART", "TO": "PART",
    "UH": "INTJ",
    "SYM": "SYM", "$": "SYM", "#": "SYM",
    ",": "PUNCT", ".": "PUNCT", ":": "PUNCT", "``": "PUNCT", "''": "PUNCT",
    "-LRB-": "PUNCT", "-RRB-": "PUNCT", "HYPH": "PUNCT", "NFP": "PUNCT",
    "FW": "X", "LS": "X", "XX": "X", "ADD": "X", "GW": "X", "AFX": "X",
}

# Tokens that attach to the preceding token without a space.
NO_SPACE_BEFORE_FORMS = {
    ",", ".", ";", ":", "?", "!", "...", ")", "]", "}", "%",
    "'s", "'S", "n't", "N'T", "'m", "'re", "'ve", "'ll", "'d",
}
NO_SPACE_BEFORE_TAGS = {"''", "-RRB-", "POS", "HYPH", ","}
# Tokens after which the next token follows without a space.
NO_SPACE_AFTER_TAGS = {"``", "-LRB-", "HYPH", "$", "#"}

OPEN_RE = re.compile(r"^\[([A-Za-z_]+)$")


class SourceError(Exception):
    """A problem in the source file, tied to a line number."""

    def __init__(self, path: Path, lineno: int, message: str):
        super().__init__(f"{path}:{lineno}: {message}")


@dataclass
class Token:
    form: str
    xpos: str
    ent_type: str | None = None  # None = outside
    ent_start: bool = False  # first token of its entity mention


@dataclass
class Sentence:
    lineno: int
    tokens: list[Token] = field(default_factory=list)


def parse_line(path: Path, lineno: int, line: str) -> Sentence:
    """Parse one source line into a Sentence, validating as we go."""
    if "\t" in line:
        raise SourceError(path, lineno, "tab character; separate tokens with single spaces")
    sent = Sentence(lineno)
    open_type: str | None = None
    open_count = 0  # tokens inside the currently open entity
    for piece in line.split():
        m = OPEN_RE.match(piece)
        if m:
            ent = m.group(1)
            if ent not in ENTITY_TYPES:
                raise SourceError(
                    path, lineno,
                    f"unknown entity type {ent!r} (expected one of {', '.join(ENTITY_TYPES)})",
                )
            if open_type is not None:
                raise SourceError(path, lineno, f"unbalanced brackets: '[{ent}' opened inside an open [{open_type} ...] entity")
            open_type, open_count = ent, 0
            continue
        if piece == "]":
            if open_type is not None and open_count == 0:
                raise SourceError(path, lineno, f"empty entity [{open_type} ]")
            raise SourceError(path, lineno, "unbalanced brackets: stray ']'")
        if piece.startswith("[") and len(piece) > 1 and "/" not in piece:
            raise SourceError(path, lineno, f"malformed entity opener {piece!r}")
        closes = False
        body = piece
        if body.endswith("]") and "/" in body and not body.endswith("/]"):
            closes = True
            body = body[:-1]
            if body.endswith("]"):
                raise SourceError(path, lineno, f"unbalanced brackets: {piece!r} closes more than one entity")
        if "/" not in body:
            raise SourceError(path, lineno, f"malformed token {piece!r} (expected word/TAG)")
        form, xpos = body.rsplit("/", 1)
        if not form or not xpos:
            raise SourceError(path, lineno, f"malformed token {piece!r} (empty word or tag)")
        if xpos not in XPOS_TO_UPOS:
            raise SourceError(path, lineno, f"unknown XPOS tag {xpos!r} in token {piece!r}")
        tok = Token(form, xpos)
        if open_type is not None:
            tok.ent_type = open_type
            tok.ent_start = open_count == 0
            open_count += 1
        sent.tokens.append(tok)
        if closes:
            if open_type is None:
                raise SourceError(path, lineno, f"unbalanced brackets: {piece!r} closes an entity that was never opened")
            open_type = None
    if open_type is not None:
        raise SourceError(path, lineno, f"unbalanced brackets: [{open_type} ...] is never closed")
    if not sent.tokens:
        raise SourceError(path, lineno, "empty sentence")
    return sent


def read_source(path: Path) -> list[Sentence]:
    sentences = []
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            sentences.append(parse_line(path, lineno, stripped))
    return sentences


def space_after(tokens: list[Token]) -> list[bool]:
    """Whether each token is followed by a space (last token: True)."""
    result = []
    for i, tok in enumerate(tokens):
        if i + 1 == len(tokens):
            result.append(True)
            continue
        nxt = tokens[i + 1]
        no_space = (
            tok.xpos in NO_SPACE_AFTER_TAGS
            or nxt.form in NO_SPACE_BEFORE_FORMS
            or nxt.xpos in NO_SPACE_BEFORE_TAGS
        )
        result.append(not no_space)
    return result


def sentence_text(tokens: list[Token]) -> str:
    parts = []
    for tok, sp in zip(tokens, space_after(tokens)):
        parts.append(tok.form)
        if sp:
            parts.append(" ")
    return "".join(parts).rstrip(" ")


def bio_tags(tokens: list[Token]) -> list[str]:
    """IOB2 tags: B- on the first token of every mention."""
    tags = []
    for tok in tokens:
        if tok.ent_type is None:
            tags.append("O")
        else:
            tags.append(("B-" if tok.ent_start else "I-") + tok.ent_type)
    return tags


def iob1_tags(tokens: list[Token]) -> list[str]:
    """IOB1 (CoNLL-2003): I- everywhere, B- only when a mention directly
    follows another mention of the same type."""
    tags = []
    prev_type = None
    for tok in tokens:
        if tok.ent_type is None:
            tags.append("O")
        elif tok.ent_start and prev_type == tok.ent_type:
            tags.append("B-" + tok.ent_type)
        else:
            tags.append("I-" + tok.ent_type)
        prev_type = tok.ent_type
    return tags


NP_TAGS = {"DT", "PDT", "PRP$", "WP$", "CD", "NN", "NNS", "NNP", "NNPS",
           "PRP", "WP", "EX", "$", "#", "POS", "JJ", "JJR", "JJS", "WDT"}
NP_HEADS = {"NN", "NNS", "NNP", "NNPS", "CD", "JJ", "JJR", "JJS", "POS", "$", "#"}
NP_STARTERS = {"DT", "PDT", "PRP$", "WP$", "PRP", "WP", "EX", "POS", "WDT"}
VP_TAGS = {"MD", "VB", "VBD", "VBG", "VBN", "VBP", "VBZ"}
ADVP_TAGS = {"RB", "RBR", "RBS", "WRB"}


def chunk_tags(tokens: list[Token]) -> list[str]:
    """A rough IOB1 chunk heuristic (NP, VP, PP, ADVP, ADJP, PRT, INTJ)."""
    n = len(tokens)
    labels: list[str | None] = []
    starts: list[bool] = []
    for i, tok in enumerate(tokens):
        t = tok.xpos
        nxt = tokens[i + 1].xpos if i + 1 < n else None
        prev_label = labels[-1] if labels else None
        prev_tag = tokens[i - 1].xpos if i else None
        new = True
        if t in ("JJ", "JJR", "JJS") and nxt not in NP_HEADS and prev_label != "NP":
            label = "ADJP"
            new = prev_label != "ADJP"
        elif t == "WDT" and nxt not in NP_HEADS:
            label = "NP"
        elif t in NP_TAGS:
            label = "NP"
            if prev_label == "NP":
                new = (t in NP_STARTERS and prev_tag != "PDT") or prev_tag in ("PRP", "WP", "EX")
        elif t in VP_TAGS or (t == "TO" and nxt == "VB"):
            label = "VP"
            new = prev_label != "VP"
        elif t in ("IN", "TO"):
            label = "PP"
        elif t in ADVP_TAGS:
            label = "ADVP"
            new = prev_label != "ADVP"
        elif t == "RP":
            label = "PRT"
        elif t == "UH":
            label = "INTJ"
        else:
            label = None
        labels.append(label)
        starts.append(new)
    out = []
    for i, label in enumerate(labels):
        if label is None:
            out.append("O")
        elif starts[i] and i and labels[i - 1] == label:
            out.append("B-" + label)
        else:
            out.append("I-" + label)
    return out


def write_conllu(path: Path, split: str, sentences: list[Sentence], doc_offset: int) -> None:
    lines = []
    for idx, sent in enumerate(sentences):
        if idx % DOC_SIZE == 0:
            lines.append(f"# newdoc id = sample-doc-{doc_offset + idx // DOC_SIZE + 1}")
        lines.append(f"# sent_id = sample-{split}-{idx + 1:04d}")
        lines.append(f"# text = {sentence_text(sent.tokens)}")
        spaces = space_after(sent.tokens)
        for i, (tok, ner, sp) in enumerate(zip(sent.tokens, bio_tags(sent.tokens), spaces), start=1):
            misc = f"NE={ner}"
            if not sp:
                misc += "|SpaceAfter=No"
            head, deprel = ("0", "root") if i == 1 else ("1", "dep")
            cols = [str(i), tok.form, tok.form.lower(), XPOS_TO_UPOS[tok.xpos],
                    tok.xpos, "_", head, deprel, "_", misc]
            lines.append("\t".join(cols))
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def write_iob(path: Path, sentences: list[Sentence], docstart: str = DOCSTART) -> None:
    lines = []
    for idx, sent in enumerate(sentences):
        if idx % DOC_SIZE == 0:
            lines.append(docstart)
            lines.append("")
        for tok, chunk, ner in zip(sent.tokens, chunk_tags(sent.tokens), iob1_tags(sent.tokens)):
            lines.append(f"{tok.form} {tok.xpos} {chunk} {ner}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def count_mentions(sentences: list[Sentence]) -> Counter:
    c: Counter = Counter()
    for sent in sentences:
        for tok in sent.tokens:
            if tok.ent_type is not None and tok.ent_start:
                c[tok.ent_type] += 1
    return c


def stats_table(splits: dict[str, list[Sentence]]) -> str:
    header = ["split", "sentences", "tokens", *ENTITY_TYPES, "entities"]
    rows = []
    totals = Counter()
    for name, sents in splits.items():
        ents = count_mentions(sents)
        ntok = sum(len(s.tokens) for s in sents)
        row = [name, len(sents), ntok, *(ents[t] for t in ENTITY_TYPES), sum(ents.values())]
        rows.append(row)
        for key, val in zip(header[1:], row[1:]):
            totals[key] += val
    rows.append(["total", *(totals[k] for k in header[1:])])
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(out)


README_TEMPLATE = """\
# Sample corpus

A small English corpus with part-of-speech and named-entity annotation,
written by hand **for this project** so that the pipeline, configs and tests
can run without downloading any third-party treebank.  Every sentence was
composed from scratch for this repository; none is taken or adapted from
UD English-EWT, CoNLL-2003, the Penn Treebank or any other dataset.  Most
people, companies and events are invented; real place names and a handful of
well-known institutions, works and historical names appear alongside them.
The statements are made up and are not news.

Licence: the same as the project (MIT).

## Annotation

* **POS**: Penn Treebank tag set (XPOS); UPOS is derived mechanically from
  XPOS (`NN*`->NOUN/PROPN, `VB*`->VERB, `MD`->AUX, `JJ*`->ADJ, `RB*`/`WRB`->ADV,
  `DT`/`PDT`/`WDT`->DET, `IN`->ADP, `CC`->CCONJ, pronoun tags->PRON, `CD`->NUM,
  `POS`/`RP`/`TO`->PART, `UH`->INTJ, `SYM`/`$`/`#`->SYM, punctuation->PUNCT,
  `FW`/`LS`/`ADD`/...->X).
* **Named entities**: CoNLL-2003 types PER, ORG, LOC and MISC (nationalities,
  languages, events, products, titles of works).
* Tokenisation follows PTB conventions: possessive `'s` is a separate token,
  quotes keep the form `"` and are tagged ``` `` ``` (opening) or `''`
  (closing), proper-noun compounds such as "Marlow-based" are
  split with a `HYPH` token.

## Files

| file | format |
|---|---|
| `train.conllu`, `dev.conllu`, `test.conllu` | CoNLL-U. LEMMA is the lowercased form, FEATS/DEPS are `_`, the tree is flat (token 1 is the root, all others attach to it with `dep`), MISC holds `NE=B-TYPE`/`NE=I-TYPE`/`NE=O` (IOB2) and `SpaceAfter=No`. Readable by `spacy convert -c conllu`. |
| `train.iob`, `dev.iob`, `test.iob` | CoNLL-2003 layout `word POS CHUNK NER`; NER is IOB1, CHUNK comes from a rough rule-based heuristic (not gold). A `-DOCSTART- -X- O O` line opens every block of {doc_size} sentences. |

Split: the first {n_train} sentences of the source are `train`, the next
{n_dev} `dev`, the last {n_test} `test`.

## Counts

Entity columns count mentions.

{table}

## Regenerating

The source of truth is `scripts/sample_corpus_source.txt` (one sentence per
line, `word/TAG` tokens, entities as `[TYPE tok/TAG ...]`).  After editing
it, run:

```
python scripts/build_sample_corpus.py
```

The script uses only the Python standard library, is deterministic, and
exits with an error naming the source line if it finds an unknown tag,
a malformed token, unbalanced brackets, an unknown entity type or an empty
sentence.

### Documents

Every block of {doc_size} sentences opens with `-DOCSTART- -X- O O` in the `.iob`
files (the delimiter `spacy convert -c ner` splits documents at, so `-n` is
ignored there) and with `# newdoc id` in the `.conllu` files.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    args = ap.parse_args(argv)

    try:
        sentences = read_source(args.source)
    except SourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: cannot read {args.source}: {err}", file=sys.stderr)
        return 1

    expected = sum(n for _, n in SPLITS)
    if len(sentences) != expected:
        print(f"error: {args.source}: expected {expected} sentences, found {len(sentences)}",
              file=sys.stderr)
        return 1

    splits: dict[str, list[Sentence]] = {}
    start = 0
    for name, n in SPLITS:
        splits[name] = sentences[start:start + n]
        start += n

    args.out_dir.mkdir(parents=True, exist_ok=True)
    doc_offset = 0
    for name, sents in splits.items():
        write_conllu(args.out_dir / f"{name}.conllu", name, sents, doc_offset)
        write_iob(args.out_dir / f"{name}.iob", sents)
        doc_offset += (len(sents) + DOC_SIZE - 1) // DOC_SIZE

    table = stats_table(splits)
    readme = README_TEMPLATE.format(
        table=table, doc_size=DOC_SIZE,
        n_train=SPLITS[0][1], n_dev=SPLITS[1][1], n_test=SPLITS[2][1],
    )
    (args.out_dir / "README.md").write_text(readme, encoding="utf-8", newline="\n")
    print(table)
    print(f"wrote {args.out_dir}/{{train,dev,test}}.{{conllu,iob}} and README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
