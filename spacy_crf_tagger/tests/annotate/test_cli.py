"""`python -m spacy crf-annotate` as a user runs it: registered on spaCy's CLI, errors
as messages with exit code 1, and a job killed outright resumes when re-run."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from spacy.cli._util import app
from typer.testing import CliRunner

import spacy_crf_tagger.cli  # noqa: F401  (registers the commands, as spaCy's entry point does)
from spacy_crf_tagger.annotate import read_output

from .util import assert_same_rows, generate_texts, reference_rows, write_jsonl


def test_the_command_annotates_and_says_what_it_did(model_dir, tmp_path):
    texts = generate_texts(300, seed=7)
    path = write_jsonl(tmp_path / "in.jsonl", texts)
    args = ["crf-annotate", str(model_dir), str(path), str(tmp_path / "out"), "--part-size", "100", "-b", "16"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Annotated 300 document(s) in 3 part(s)" in result.output
    assert_same_rows(read_output(tmp_path / "out").to_pylist(), reference_rows(model_dir, texts))
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "Skipped 3 of 3 part(s), finished by an earlier run" in again.output


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--engine", "spark"], "Expected the engine to be one of ['local', 'ray'], got 'spark'"),
        (["--workers", "0"], "Expected workers to be a whole number >= 1, got 0"),
    ],
)
def test_errors_are_messages_with_exit_code_1(model_dir, tmp_path, extra, message):
    path = write_jsonl(tmp_path / "in.jsonl", ["a"])
    result = CliRunner().invoke(app, ["crf-annotate", str(model_dir), str(path), str(tmp_path / "out"), *extra])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_a_missing_input_is_named(model_dir, tmp_path):
    args = ["crf-annotate", str(model_dir), str(tmp_path / "no.jsonl"), str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "Input not found" in result.output


def test_spacy_finds_the_command_through_its_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "crf-annotate", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage: python -m spacy crf-annotate" in result.stdout
    for option in ("--engine", "--workers", "--address", "--gpus-per-actor", "--part-size"):
        assert option in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads worker ids from /proc")
def test_a_killed_job_leaves_no_workers_and_resumes(model_dir, tmp_path):
    texts = generate_texts(3000, seed=8)
    path = write_jsonl(tmp_path / "in.jsonl", texts)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spacy", "crf-annotate", str(model_dir), str(path), str(out)]
    cmd += ["--workers", "2", "--part-size", "250", "--rows-per-task", "50", "-b", "10"]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (out / "part-00000.parquet").exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = _children(job.pid)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert workers, "the job had started its workers"
    assert _all_gone(workers), "workers die with the job"
    finished = len(list(out.glob("part-*.parquet")))
    assert 1 <= finished < 12
    result = CliRunner().invoke(app, cmd[3:])  # the same command, run again
    assert result.exit_code == 0, result.output
    assert f"Skipped {finished} of 12 part(s)" in result.output
    assert not list(out.glob(".scratch/*")), "the killed run's spool files are cleared"
    assert_same_rows(read_output(out).to_pylist(), reference_rows(model_dir, texts))


def _children(pid: int) -> list:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _all_gone(pids: list, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                state = Path(f"/proc/{pid}/stat").read_text().split()[2]
                if state != "Z":
                    alive.append(pid)
            except (ProcessLookupError, FileNotFoundError):
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False
