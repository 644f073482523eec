"""Install a packaged pipeline into a fresh virtual environment and use it by name,
as a user of the wheel would.

    python scripts/install_check.py PACKAGES_DIR PACKAGE_NAME VENV_DIR

The pipeline's wheel is looked up under PACKAGES_DIR. The spacy-crf-tagger it requires
is built from the source checkout the running interpreter uses, when it runs from one
(an editable install); otherwise pip takes it from the package index. torch is
installed first at the version of the running interpreter, so the check does not
pull a different build.
"""
import subprocess
import sys
import venv
from pathlib import Path

TEXT = "Anna Kowalski flew from Nairobi to Paris on Monday to meet the board of Brightwater Labs."
CHECK = """
import sys, spacy
nlp = spacy.load(sys.argv[1])
doc = nlp(sys.argv[2])
print("pipeline:", nlp.pipe_names)
print("tokens:", [(t.text, t.tag_ or t.pos_) for t in doc])
print("entities:", [(e.text, e.label_) for e in doc.ents])
if "crf_ner" in nlp.pipe_names:
    group = doc.spans[nlp.get_pipe("crf_ner").cfg["spans_key"]]
    print("confidence:", [(s.text, round(float(p), 3)) for s, p in zip(group, group.attrs["scores"])])
    assert doc.ents, "no entities found"
if "crf_tagger" in nlp.pipe_names:
    assert all(t.tag_ or t.pos_ for t in doc), "untagged tokens"
print("install check passed")
"""


def run(*cmd) -> None:
    print("$", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True)


def plugin_checkout():
    """The source checkout of the installed spacy_crf_tagger, if it runs from one."""
    import spacy_crf_tagger

    root = Path(spacy_crf_tagger.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").exists() else None


def main(packages_dir: str, name: str, venv_dir: str) -> None:
    wheels = sorted(Path(packages_dir).glob(f"{name}-*/dist/*.whl"))
    if not wheels:
        raise SystemExit(f"Expected a wheel of {name} under {packages_dir}/{name}-*/dist/: run the package step first.")
    plugins = []
    source = plugin_checkout()
    if source is not None:
        plugin_dir = Path(venv_dir).with_name("plugin-dist")
        run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", plugin_dir, source)
        plugins = sorted(plugin_dir.glob("spacy_crf_tagger-*.whl"))[-1:]
    venv.create(venv_dir, with_pip=True, clear=True)
    python = Path(venv_dir) / "bin" / "python"
    import torch

    run(python, "-m", "pip", "install", "-q", f"torch=={torch.__version__.split('+')[0]}")
    run(python, "-m", "pip", "install", "-q", *plugins, wheels[-1])
    run(python, "-c", CHECK, name, TEXT)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
