"""scripts/convert_corpus.py splits CoNLL-2003-style files at every document marker,
whichever column form the marker takes, and never keeps a marker as a word."""
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "convert_corpus.py"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="runs from a source checkout (needs scripts/)")

# Two documents with two sentences each; eng.train writes its markers as
# "-DOCSTART- -X- O O", eng.testa/testb as "-DOCSTART- -X- -X- O".
SENTENCES = [
    "Anna NNP I-NP I-PER\nvisited VBD I-VP O\nOslo NNP I-NP I-LOC\n. . O O\n",
    "She PRP I-NP O\nliked VBD I-VP O\nit PRP I-NP O\n. . O O\n",
    "Acme NNP I-NP I-ORG\nCorp NNP I-NP I-ORG\nwon VBD I-VP O\n. . O O\n",
    "Bob NNP I-NP I-PER\nsaid VBD I-VP O\nso RB I-ADVP O\n. . O O\n",
]


def write_split(path: Path, marker: str) -> None:
    docs = [SENTENCES[:2], SENTENCES[2:]]
    path.write_text("".join(f"{marker}\n\n" + "\n".join(doc) + "\n" for doc in docs), encoding="utf8")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Each split converted both ways: {"false": {split: docs}, "true": {split: docs}}."""
    tmp = tmp_path_factory.mktemp("conll2003")
    data = tmp / "data"
    data.mkdir()
    write_split(data / "eng.train", "-DOCSTART- -X- O O")
    write_split(data / "eng.testa", "-DOCSTART- -X- -X- O")
    write_split(data / "eng.testb", "-DOCSTART- -X- -X- O")
    return {mode: convert(data, tmp / f"out-{mode}", mode) for mode in ("false", "true")}


def convert(data: Path, out: Path, sentence_docs: str) -> dict:
    cmd = [sys.executable, str(SCRIPT), str(data), str(out), "--converter", "ner", "--sentence-docs", sentence_docs]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    vocab = spacy.blank("en").vocab
    return {split: list(DocBin().from_disk(out / f"{split}.spacy").get_docs(vocab)) for split in ("train", "dev", "test")}


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_whole_documents_split_at_either_marker_form(converted, split):
    docs = converted["false"][split]
    assert [len(doc) for doc in docs] == [8, 8]
    assert not any(token.text.startswith("-DOCSTART-") for doc in docs for token in doc)
    assert [[(e.text, e.label_) for e in doc.ents] for doc in docs] == [
        [("Anna", "PER"), ("Oslo", "LOC")],
        [("Acme Corp", "ORG"), ("Bob", "PER")],
    ]


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_sentence_docs_give_one_sentence_per_doc(converted, split):
    docs = converted["true"][split]
    assert [doc.text.strip() for doc in docs] == ["Anna visited Oslo .", "She liked it .", "Acme Corp won .", "Bob said so ."]
    assert sum(len(doc.ents) for doc in docs) == 4
