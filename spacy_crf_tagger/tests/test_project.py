"""The spaCy project workflow runs end to end on the bundled sample, and the README's
project section is what `weasel document` generates."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
START = "<!-- WEASEL: AUTO-GENERATED DOCS START (do not remove) -->"
END = "<!-- WEASEL: AUTO-GENERATED DOCS END (do not remove) -->"

pytestmark = pytest.mark.skipif(
    not (ROOT / "project.yml").exists(), reason="runs from a source checkout (needs project.yml)"
)


def project_section(text: str) -> str:
    return text[text.index(START) : text.index(END)]


def test_readme_project_section_is_in_sync(tmp_path):
    shutil.copy(ROOT / "project.yml", tmp_path / "project.yml")
    shutil.copytree(ROOT / "assets" / "sample", tmp_path / "assets" / "sample")  # bundled: linked
    (tmp_path / "README.md").write_text(f"{START}\n{END}\n", encoding="utf8")
    subprocess.run(
        [sys.executable, "-m", "weasel", "document", str(tmp_path), "--output", str(tmp_path / "README.md")],
        check=True, capture_output=True,
    )
    generated = project_section((tmp_path / "README.md").read_text(encoding="utf8"))
    current = project_section((ROOT / "README.md").read_text(encoding="utf8"))
    assert current == generated, "README.md is out of date: run `weasel document . --output README.md`"


@pytest.mark.slow
def test_workflow_all_on_the_sample(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("project.yml", "configs", "scripts", "assets/sample"):
        src, dst = ROOT / name, project / name
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dst)
    cmd = [
        sys.executable, "-m", "weasel", "run", "all", str(project),
        "--vars.max_steps", "150", "--vars.eval_frequency", "50", "--vars.package_name", "crf_citest",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    metrics = json.loads((project / "metrics" / "sample-both.json").read_text())
    assert 0.0 <= metrics["tag_acc"] <= 1.0 and "ents_f" in metrics
    assert re.search(r"Mean: [\d.]+ words/s", (project / "metrics" / "sample-both-speed.txt").read_text())
    assert list((project / "packages").glob("en_crf_citest-0.0.1/dist/*.whl"))
    assert "install check passed" in output
