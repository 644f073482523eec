"""spacy-transformers is an optional extra. In a Python environment without it, the
base components import and train, and a transformer config fails before spaCy looks
for the `transformer` factory, saying what to install.

The environment is this interpreter's site-packages minus spacy-transformers: a folder
of links to every other entry (so its dist-info and entry points are gone too), used
with `python -S`, which skips the normal site-packages.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import spacy_crf_tagger

ROOT = Path(__file__).parents[2]
HIDDEN = "spacy_transformers"


def site_packages_without(package: str, view: Path) -> Path:
    """Link every entry of this interpreter's site-packages folders into ``view``,
    except ``package`` and its distribution metadata."""
    view.mkdir()
    for entry in sys.path:
        folder = Path(entry)
        if folder.name not in ("site-packages", "dist-packages") or not folder.is_dir():
            continue
        for child in folder.iterdir():
            if child.name.lower().replace("-", "_").startswith(package):
                continue
            link = view / child.name
            if not (link.exists() or link.is_symlink()):
                link.symlink_to(child)
    return view


def run_without(package: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    view = site_packages_without(package, tmp_path / "site-packages")
    source_root = Path(spacy_crf_tagger.__file__).parents[1]  # the checkout, for -e installs
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source_root), str(view)])}
    env["PYTHONNOUSERSITE"] = "1"
    return subprocess.run(
        [sys.executable, "-S", *args], capture_output=True, text=True, env=env, cwd=tmp_path
    )


BASE_COMPONENTS = textwrap.dedent(
    """
    import importlib.util
    assert importlib.util.find_spec("spacy_transformers") is None, "still installed"
    import spacy
    from spacy.training import Example
    from thinc.api import Adam
    import spacy_crf_tagger

    nlp = spacy.blank("en")
    nlp.add_pipe("crf_ner", config={"model": {"encoder": {"hidden_size": 8}, "char_cnn": None,
                                              "tok2vec": {"width": 8, "rows": [50, 50, 50, 50]}}})
    examples = [Example.from_dict(nlp.make_doc("Anna flew to Nairobi"),
                                  {"entities": [(0, 4, "PER"), (13, 20, "LOC")]})]
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    doc = nlp("Anna flew to Nairobi")
    assert len(doc.spans["crf_ner"].attrs["scores"]) == len(doc.spans["crf_ner"])
    print("base components work")
    """
)


def test_base_components_work_without_spacy_transformers(tmp_path):
    result = run_without(HIDDEN, tmp_path, "-c", BASE_COMPONENTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "base components work" in result.stdout


def test_transformer_config_says_what_to_install(tmp_path):
    (tmp_path / "train.spacy").write_bytes(b"")  # never read: the pipeline is not created
    result = run_without(
        HIDDEN, tmp_path, "-m", "spacy", "train", str(ROOT / "configs" / "ner_trf.cfg"),
        "--paths.train", "train.spacy", "--paths.dev", "train.spacy",
    )
    assert result.returncode != 0
    assert 'pip install "spacy-crf-tagger[transformers]"' in result.stderr, result.stderr[-3000:]
    assert "MissingPackageError" in result.stderr and "spacy_transformers" in result.stderr
    assert "Can't find factory" not in result.stderr
