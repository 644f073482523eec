"""The Ray Data engine on a local Ray instance (2 CPUs, no dashboard, no network):
the same rows as single-process nlp.pipe, also when an actor is killed mid-run."""
import os

import pytest

from spacy_crf_tagger.annotate import AnnotateSettings, annotate, read_output
from spacy_crf_tagger.annotate.ray_engine import RAY_MISSING, require_ray

from .util import KillOnceAnnotator, assert_same_rows, generate_texts, reference_rows, write_jsonl, write_parquet

N_DOCS = 3000


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def texts():
    return generate_texts(N_DOCS, seed=2)


@pytest.fixture(scope="module")
def expected(model_dir, texts):
    return reference_rows(model_dir, texts)


def test_two_actors_equal_single_process_nlp_pipe(ray_cluster, model_dir, texts, expected, tmp_path):
    settings = AnnotateSettings(workers=2, part_size=1000, rows_per_task=250, batch_size=50)
    path = write_parquet(tmp_path / "in.parquet", texts)
    summary = annotate(model_dir, path, tmp_path / "out", engine="ray", settings=settings)
    assert (summary.rows, summary.parts, summary.written, summary.annotated) == (N_DOCS, 3, 3, N_DOCS)
    assert_same_rows(read_output(tmp_path / "out").to_pylist(), [dict(r) for r in expected])


@pytest.mark.slow
def test_an_actor_killed_mid_run_loses_and_repeats_no_rows(ray_cluster, model_dir, texts, expected, tmp_path):
    marker = tmp_path / "killed"
    settings = AnnotateSettings(workers=2, part_size=700, rows_per_task=200, batch_size=50)
    path = write_jsonl(tmp_path / "in.jsonl", texts)
    summary = annotate(
        model_dir,
        path,
        tmp_path / "out",
        engine="ray",
        settings=settings,
        worker_cls=KillOnceAnnotator,
        worker_kwargs={"marker": str(marker)},
    )
    assert marker.exists(), "an actor was killed"
    killed = int(marker.read_text())
    assert killed != os.getpid()
    assert (summary.rows, summary.written) == (N_DOCS, 5)
    table = read_output(tmp_path / "out")
    assert table.num_rows == N_DOCS
    assert_same_rows(table.to_pylist(), [dict(r) for r in expected])


def test_without_ray_the_error_says_what_to_install(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    message = r'pip install "spacy-crf-tagger\[ray\]" -- or annotate on this machine with --engine local'
    with pytest.raises(ImportError, match=message) as err:
        require_ray()
    assert str(err.value) == RAY_MISSING
    # the job checks for Ray first, before it touches the model, the input or the output
    with pytest.raises(ImportError, match=r"spacy-crf-tagger\[ray\]"):
        annotate("no-model", tmp_path / "no-input.jsonl", tmp_path / "out", engine="ray")
    assert not (tmp_path / "out").exists()


def test_an_unreachable_cluster_is_named_with_what_to_pass(monkeypatch, model_dir, tmp_path):
    ray = pytest.importorskip("ray")

    def refuse(*args, **kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.9:6379")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    path = write_jsonl(tmp_path / "in.jsonl", ["a b"])
    message = r"Expected a running Ray cluster at '10.0.0.9:6379', could not connect .* Pass 'auto' on a machine"
    with pytest.raises(ConnectionError, match=message):
        settings = AnnotateSettings(address="10.0.0.9:6379")
        annotate(model_dir, path, tmp_path / "out", engine="ray", settings=settings)
