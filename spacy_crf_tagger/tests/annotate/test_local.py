"""The single-machine engine (nlp.pipe in one or more processes), resumption, errors."""
import json
import multiprocessing
import os
import shutil
import signal
import threading
import time

import pytest

from spacy_crf_tagger.annotate import AnnotateSettings, annotate, read_output
from spacy_crf_tagger.annotate.parts import part_name

from .util import assert_same_rows, generate_texts, reference_rows, write_jsonl, write_parquet

N_DOCS = 1200


@pytest.fixture(scope="module")
def texts():
    return generate_texts(N_DOCS)


@pytest.fixture(scope="module")
def expected(model_dir, texts):
    return reference_rows(model_dir, texts)


def test_one_process_equals_nlp_pipe_for_jsonl_and_parquet(model_dir, texts, expected, tmp_path):
    settings = AnnotateSettings(part_size=500, batch_size=32)
    for write, name in ((write_jsonl, "in.jsonl"), (write_parquet, "in.parquet")):
        out = tmp_path / f"out-{name}"
        summary = annotate(model_dir, write(tmp_path / name, texts), out, settings=settings)
        assert (summary.rows, summary.parts, summary.written, summary.skipped) == (N_DOCS, 3, 3, 0)
        assert summary.annotated == N_DOCS and summary.docs_per_second > 0
        assert_same_rows(read_output(out).to_pylist(), [dict(r) for r in expected])


def test_two_processes_equal_one(model_dir, texts, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", texts)
    one = annotate(model_dir, path, tmp_path / "one", settings=AnnotateSettings(part_size=400))
    two = annotate(model_dir, path, tmp_path / "two", settings=AnnotateSettings(part_size=400, workers=2))
    assert one.rows == two.rows == N_DOCS
    assert_same_rows(read_output(two.output).to_pylist(), read_output(one.output).to_pylist())


def test_rerun_annotates_only_the_missing_parts(model_dir, texts, expected, tmp_path):
    path = write_parquet(tmp_path / "in.parquet", texts)
    out = tmp_path / "out"
    settings = AnnotateSettings(part_size=300)
    annotate(model_dir, path, out, settings=settings)
    kept = {i: os.stat(out / part_name(i)).st_mtime_ns for i in (0, 2, 3)}
    (out / part_name(1)).unlink()  # as if the run had stopped before writing it
    again = annotate(model_dir, path, out, settings=settings)
    assert (again.skipped, again.written, again.annotated) == (3, 1, 300)
    assert {i: os.stat(out / part_name(i)).st_mtime_ns for i in (0, 2, 3)} == kept
    assert_same_rows(read_output(out).to_pylist(), [dict(r) for r in expected])
    done = annotate(model_dir, path, out, settings=settings)
    assert (done.skipped, done.written) == (4, 0)


def test_resuming_with_other_settings_input_or_model_is_refused(model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    path = write_jsonl(tmp_path / "in.jsonl", ["a b", "c"])
    annotate(model, path, tmp_path / "out", settings=AnnotateSettings(part_size=1))
    with pytest.raises(ValueError, match=r"different job.*'part_size' is 1, this run's is 2"):
        annotate(model, path, tmp_path / "out", settings=AnnotateSettings(part_size=2))
    meta = json.loads((model / "meta.json").read_text())
    (model / "meta.json").write_text(json.dumps({**meta, "version": "9.9.9"}))  # e.g. retrained
    with pytest.raises(ValueError, match=r"different job.*its 'model' is \{'name': .*'version': 'sha256:"):
        annotate(model, path, tmp_path / "out", settings=AnnotateSettings(part_size=1))
    write_jsonl(path, ["a b", "c", "d"])
    with pytest.raises(ValueError, match=r"different job.*its 'input' is"):
        annotate(model_dir, path, tmp_path / "out", settings=AnnotateSettings(part_size=1))


def test_empty_input_gives_a_complete_empty_output(model_dir, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n")
    summary = annotate(model_dir, path, tmp_path / "out")
    assert (summary.rows, summary.parts) == (0, 0)
    assert read_output(tmp_path / "out").num_rows == 0


def test_missing_model(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", ["a"])
    message = r"Expected a spaCy pipeline folder or an installed pipeline package, got 'no_such_pipeline'"
    with pytest.raises(ValueError, match=message):
        annotate("no_such_pipeline", path, tmp_path / "out")
    with pytest.raises(ValueError, match=r"Expected a spaCy pipeline folder with a config.cfg, got .*in.jsonl"):
        annotate(path, path, tmp_path / "out")


@pytest.mark.parametrize(
    "engine,settings,message",
    [
        ("spark", {}, r"Expected the engine to be one of \['local', 'ray'\], got 'spark'"),
        ("local", {"batch_size": 0}, r"Expected batch_size to be a whole number >= 1, got 0"),
        ("local", {"part_size": -5}, r"Expected part_size to be a whole number >= 1, got -5"),
        ("local", {"workers": 0}, r"Expected workers to be a whole number >= 1, got 0"),
        ("ray", {"rows_per_task": 0}, r"Expected rows_per_task to be a whole number >= 1, got 0"),
        ("ray", {"cpus_per_actor": 0}, r"Expected cpus_per_actor > 0, got 0"),
        ("ray", {"gpus_per_actor": -1}, r"Expected gpus_per_actor >= 0 \(0 for the CPU\), got -1"),
        ("local", {"text_field": ""}, r"Expected the name of the input field holding the text, got ''"),
        ("local", {"workers": 2, "gpu_id": 0}, r"Expected one worker on the GPU, got workers=2 with gpu_id=0.*--gpus"),
    ],
)
def test_bad_settings(tmp_path, engine, settings, message):
    with pytest.raises(ValueError, match=message):
        annotate("model", tmp_path / "in.jsonl", tmp_path / "out", engine=engine, settings=AnnotateSettings(**settings))


def test_worker_class_is_for_the_ray_engine_only(tmp_path):
    message = r"Expected worker_cls and worker_kwargs only with engine='ray', got engine='local'"
    with pytest.raises(ValueError, match=message):
        annotate("model", tmp_path / "in.jsonl", tmp_path / "out", worker_kwargs={"x": 1})


@pytest.mark.slow
def test_a_killed_worker_stops_the_job_and_a_rerun_finishes_it(model_dir, tmp_path):
    texts = generate_texts(6000, seed=5)
    path = write_jsonl(tmp_path / "in.jsonl", texts)
    out = tmp_path / "out"
    settings = AnnotateSettings(workers=2, part_size=500, rows_per_task=100, batch_size=20)
    killed = []

    def kill_a_worker_after_the_first_part():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out / part_name(0)).exists():
            time.sleep(0.02)
        workers = multiprocessing.active_children()
        if workers:
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)

    killer = threading.Thread(target=kill_a_worker_after_the_first_part)
    killer.start()
    message = r"A worker process stopped unexpectedly .* the parts written so far are kept\. Re-run the same command"
    with pytest.raises(RuntimeError, match=message):
        annotate(model_dir, path, out, settings=settings)
    killer.join()
    assert killed
    assert not multiprocessing.active_children(), "no worker outlives the job"
    finished = sorted(p.name for p in out.glob("part-*.parquet"))
    assert 1 <= len(finished) < 12
    again = annotate(model_dir, path, out, settings=settings)
    assert again.skipped == len(finished) and again.skipped + again.written == 12
    assert_same_rows(read_output(out).to_pylist(), reference_rows(model_dir, texts))
