"""The `compare` and `ablation` workflows (scripts/compare.py, scripts/ablation.py,
scripts/benchmark_utils.py): reading spaCy's output, measuring child processes, the
tables, the ablation's configs, counting invalid NER sequences, and one end-to-end
run of the ablation on the bundled sample."""
import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import Config, fix_random_seed

ROOT = Path(__file__).parents[2]
SCRIPTS = ROOT / "scripts"

pytestmark = pytest.mark.skipif(
    not (SCRIPTS / "compare.py").exists(), reason="runs from a source checkout (needs scripts/)"
)


def load_script(name: str):
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def bu():
    return load_script("benchmark_utils")


@pytest.fixture(scope="module")
def compare():
    return load_script("compare")


@pytest.fixture(scope="module")
def ablation():
    return load_script("ablation")


SPEED_OUTPUT = """Warming up for 1 epochs...
Benchmarking 30 batches...

Outliers: 3.3%, extreme outliers: 0.0%
Mean: 1701.1 words/s (95% CI: -438.3 +470.8)
"""


# -- benchmark_utils ------------------------------------------------------------------


def test_parse_words_per_second(bu):
    speed = bu.parse_words_per_second(SPEED_OUTPUT)
    assert speed["words_per_s"] == pytest.approx(1701.1)
    assert speed["ci95_low"] == pytest.approx(1701.1 - 438.3)
    assert speed["ci95_high"] == pytest.approx(1701.1 + 470.8)


def test_parse_words_per_second_says_what_it_expected(bu):
    with pytest.raises(ValueError, match=r"Expected a line 'Mean: X words/s .*got none; its last line was 'Killed'"):
        bu.parse_words_per_second("Benchmarking 30 batches...\nKilled\n")


def test_format_mean_sd(bu):
    assert bu.format_mean_sd([0.90, 0.92], scale=100.0) == "91.00 ± 1.41"
    assert bu.format_mean_sd([0.9, None], scale=100.0) == "90.00"
    assert bu.format_mean_sd([], scale=100.0) == bu.format_mean_sd([None]) == "–"
    assert bu.format_mean_sd([12345.6, 12345.6], digits=0) == "12,346 ± 0"
    assert bu.mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0, 3)


def test_markdown_table(bu):
    text = bu.markdown_table(["system", "F"], [["a|b", "91.00 ± 1.41"]])
    assert text.splitlines() == ["| system | F |", "|---|---:|", "| a\\|b | 91.00 ± 1.41 |"]
    with pytest.raises(ValueError, match="Expected 2 cells per row"):
        bu.markdown_table(["system", "F"], [["a"]])


def test_override_args(bu):
    args = bu.override_args({"paths.vectors": None, "system.static_vectors": True, "training.max_steps": 10})
    assert args == ["--paths.vectors", "null", "--system.static_vectors", "true", "--training.max_steps", "10"]


def test_parse_seeds_and_names(bu):
    assert bu.parse_seeds("0,1, 2") == [0, 1, 2]
    assert bu.parse_seeds(0) == [0]
    with pytest.raises(SystemExit, match="Expected seeds as distinct integers"):
        bu.parse_seeds("0,0")
    with pytest.raises(SystemExit, match=r"Expected tasks from \['tagger', 'ner'\].*got 'parser'"):
        bu.parse_names("parser", bu.TASKS, "tasks")


def write_docbin(path: Path, tags: bool, ents: bool) -> Path:
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["Anna", "flew", "home"], tags=["NNP", "VBD", "NN"] if tags else None,
              ents=["B-PER", "O", "O"] if ents else None)
    DocBin(docs=[doc]).to_disk(path)
    return path


def test_resolve_tasks(bu, tmp_path):
    both = write_docbin(tmp_path / "both.spacy", tags=True, ents=True)
    assert bu.resolve_tasks("auto", "ewt", both) == ["tagger"]
    assert bu.resolve_tasks("auto", "conll", both) == ["ner"]
    assert bu.resolve_tasks("auto", "mine", both) == ["tagger", "ner"]
    assert bu.resolve_tasks("auto", "mine", write_docbin(tmp_path / "n.spacy", False, True)) == ["ner"]
    assert bu.resolve_tasks("ner,tagger", "sample", both) == ["ner", "tagger"]
    with pytest.raises(SystemExit, match="Expected tags or entities"):
        bu.resolve_tasks("auto", "mine", write_docbin(tmp_path / "none.spacy", False, False))


def test_corpus_files_says_what_is_missing(bu, tmp_path):
    (tmp_path / "train.spacy").touch()
    with pytest.raises(SystemExit, match=r"Expected train.spacy, dev.spacy and test.spacy .*dev.spacy"):
        bu.corpus_files(tmp_path)


def test_run_measured(bu, tmp_path):
    code = "import sys; b = bytearray(80 * 2**20); print('hello'); sys.exit(int(sys.argv[1]))"
    ok = bu.run_measured([sys.executable, "-c", code, "0"], tmp_path / "ok.log")
    assert ok.ok and ok.wall_s > 0 and "hello" in ok.output()
    if ok.peak_rss_mb is not None:
        assert ok.peak_rss_mb >= 80
    failed = bu.run_measured([sys.executable, "-c", code, "3"], tmp_path / "failed.log")
    assert not failed.ok and failed.returncode == 3
    assert failed.error("the thing") == f"the thing failed (exit 3; log {tmp_path / 'failed.log'}): hello"


# What `spacy train` prints with spaCy's ConsoleLogger (progress_bar = false).
TRAIN_OUTPUT = """ℹ Initial learn rate: 0.001
E    #       LOSS TOK2VEC  LOSS NER  ENTS_F  ENTS_P  ENTS_R  SCORE
---  ------  ------------  --------  ------  ------  ------  ------
  0       0          0.00     48.93    0.00    0.00    0.00    0.00
  6     200        168.30  13155.93   34.41   31.68   37.65    0.34
 13    1400         98.50   3202.01   48.81   49.40   48.24    0.49
✔ Saved pipeline to output directory
"""


def test_logged_steps(bu):
    assert bu.logged_steps(TRAIN_OUTPUT) == [0, 200, 1400]
    assert bu.logged_steps("ℹ Initial learn rate: 0.001\n") == []


# A child that logs an evaluation row every 0.2 s, 50 in all (10 s).
EVALUATING_CHILD = (
    "import time\n"
    "for step in range(50):\n"
    "    print(f'  0  {step * 100:6d}  1.00  2.00  3.00', flush=True)\n"
    "    time.sleep(0.2)\n"
)


def test_time_budget_stops_at_the_next_evaluation(bu, tmp_path):
    log = tmp_path / "train.log"
    budget = bu.TimeBudget(log, 0.5)
    run = bu.run_measured([sys.executable, "-c", EVALUATING_CHILD], log, stop=budget, poll_s=0.05)
    assert run.stopped and run.ok and run.returncode != 0
    steps = bu.logged_steps(run.output())
    # Stopped after the first row that came after the deadline, long before the 50th.
    assert budget.rows_at_deadline is not None and len(steps) > budget.rows_at_deadline
    assert len(steps) < 50 and run.wall_s < 8
    unlimited = bu.run_measured([sys.executable, "-c", "print('  0  0  1.00')"], tmp_path / "done.log",
                                stop=bu.TimeBudget(tmp_path / "done.log", 60.0), poll_s=0.05)
    assert unlimited.ok and not unlimited.stopped and unlimited.returncode == 0


def test_time_budget_says_what_it_expected(bu, tmp_path):
    with pytest.raises(ValueError, match=r"Expected a time budget > 0 seconds, got 0"):
        bu.TimeBudget(tmp_path / "train.log", 0)


def test_budget_text(bu, compare):
    assert bu.budget_text({"max_steps": 3000}) == "3000 steps"
    assert bu.budget_text({"max_steps": 3000, "max_minutes": 0.0}) == "3000 steps"
    assert bu.budget_text({"max_steps": 3000, "max_minutes": 60.0}) == (
        "at most 3000 steps or until its first dev evaluation after 60 min"
    )
    args = compare.parse_args(["corpus", "out", "training", "--max-minutes", "1.5"])
    assert bu.time_budget_s(args) == pytest.approx(90.0)
    assert bu.time_budget_s(compare.parse_args(["corpus", "out", "training"])) is None


def test_negative_time_budget_is_refused(compare, capsys):
    with pytest.raises(SystemExit):
        compare.parse_args(["corpus", "out", "training", "--max-minutes", "-1"])
    assert "Expected --max-minutes >= 0 (0: no time budget), got -1.0." in capsys.readouterr().err


@pytest.mark.slow
def test_train_and_score_within_a_time_budget(bu, tmp_path):
    corpus = sample_corpus(tmp_path / "corpus")
    # Evaluations far enough apart that the stop comes long before the next checkpoint.
    overrides = {"paths.train": corpus / "train.spacy", "paths.dev": corpus / "dev.spacy",
                 "training.max_steps": 100000, "training.eval_frequency": 50, "training.patience": 0}
    record = {}
    model = bu.train_and_score(record, ROOT / "configs" / "ner.cfg", tmp_path / "run", overrides,
                               corpus / "test.spacy", -1, None, time_budget_s=0.001)
    assert model is not None and not record.get("error")
    assert record["train"]["stopped_by_time_budget"] is True
    assert record["train"]["last_evaluated_step"] < 100000
    assert 0.0 <= record["scores"]["ents_f"] <= 1.0


def test_reusable_record(bu, tmp_path):
    path = tmp_path / "run.json"
    bu.write_json(path, {"settings": {"seed": 0}, "error": None, "scores": {}})
    assert bu.reusable_record(path, {"seed": 0}) is not None
    assert bu.reusable_record(path, {"seed": 1}) is None
    bu.write_json(path, {"settings": {"seed": 0}, "error": "spacy train failed"})
    assert bu.reusable_record(path, {"seed": 0}) is None


@pytest.mark.parametrize("argv,expected", [([], False), (["--resume"], True), (["--resume", "true"], True),
                                           (["--resume", "False"], False), (["--resume", "0"], False)])
def test_resume_flag_takes_a_workflow_var(bu, argv, expected):
    ap = argparse.ArgumentParser()
    bu.add_common_args(ap, ROOT / "configs")
    assert ap.parse_args(["corpus", "out", "training", *argv]).resume is expected


def test_resume_flag_rejects_other_words(bu, capsys):
    ap = argparse.ArgumentParser()
    bu.add_common_args(ap, ROOT / "configs")
    with pytest.raises(SystemExit):
        ap.parse_args(["corpus", "out", "training", "--resume", "maybe"])
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err


# -- compare --------------------------------------------------------------------------


@pytest.mark.parametrize("optimize", ["efficiency", "accuracy"])
@pytest.mark.parametrize("static_vectors", [False, True])
def test_adapt_preset(compare, optimize, static_vectors):
    from spacy.cli.init_config import init_config

    preset = Config().from_str(init_config(lang="en", pipeline=["ner"], optimize=optimize).to_str(), interpolate=False)
    reference = Config().from_disk(ROOT / "configs" / "ner.cfg", interpolate=False)
    adapted = compare.adapt_preset(preset, reference, static_vectors)
    assert adapted["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"] is static_vectors
    assert adapted["paths"]["vectors"] is None  # the accuracy preset names en_core_web_lg
    assert adapted["training"]["batcher"] == reference["training"]["batcher"]
    assert preset["paths"]["vectors"] == ("en_core_web_lg" if optimize == "accuracy" else None)  # not modified
    Config().from_str(adapted.to_str())  # interpolates


@pytest.mark.parametrize("system,task,static_vectors,expected", [
    ("crf", "ner", False, "ner.cfg"), ("crf", "ner", True, "ner_vectors.cfg"), ("crf", "tagger", True, "tagger.cfg"),
    ("crf-accuracy", "tagger", True, "tagger_accuracy.cfg"), ("crf-accuracy", "tagger", False, "tagger_accuracy.cfg"),
    ("crf-accuracy", "ner", True, "ner_vectors_accuracy.cfg"),
])
def test_our_configs_with_and_without_vectors(compare, tmp_path, system, task, static_vectors, expected):
    path, overrides = compare.prepare_config(task, system, ROOT / "configs", tmp_path, "en", static_vectors, {})
    assert path == ROOT / "configs" / expected
    assert overrides == {"system.static_vectors": static_vectors}


def test_our_accuracy_system_is_opt_in(compare):
    assert compare.system_label("tagger", "crf-accuracy") == "crf_tagger (accuracy)"
    assert "crf-accuracy" not in compare.parse_args(["corpus", "out", "training"]).systems


def test_accuracy_system_without_a_config_says_what_to_do(compare, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ner_accuracy.cfg.*configs here: ner_vectors_accuracy.cfg, tagger_accuracy.cfg\). Leave crf-accuracy out of --systems for the ner task, or give vectors to train ner_vectors_accuracy.cfg\."):
        compare.prepare_config("ner", "crf-accuracy", ROOT / "configs", tmp_path, "en", False, {})


def test_adapt_preset_says_what_it_expected(compare):
    with pytest.raises(ValueError, match=r"Expected spaCy's preset config to have \[components.tok2vec.model.embed\]"):
        compare.adapt_preset(Config({"components": {}}), Config(), False)


def fake_compare_record(task, system, seed, score, wps, error=None):
    scores = ({"tag_acc": score} if task == "tagger" else
              {"ents_p": score, "ents_r": score, "ents_f": score, "ents_per_type": {"PER": {"p": 1, "r": 1, "f": score}}})
    return {
        "corpus": "toy", "task": task, "system": system, "seed": seed, "label": "",
        "train": {"wall_s": 10.0 + seed, "peak_rss_mb": 500.0, "last_evaluated_step": 10},
        "scores": None if error else scores,
        "speed": None if error else {"words_per_s": wps, "peak_rss_mb": 400.0},
        "error": error,
    }


def test_compare_report_and_plot(compare, tmp_path):
    pytest.importorskip("matplotlib")
    records = [
        fake_compare_record("tagger", "spacy-efficiency", 0, 0.90, 20000.0),
        fake_compare_record("tagger", "spacy-efficiency", 1, 0.92, 22000.0),
        fake_compare_record("tagger", "crf", 0, 0.93, 5000.0),
        fake_compare_record("tagger", "crf", 1, 0.0, 0.0, error="spacy train failed (exit 1)"),
        fake_compare_record("ner", "crf", 0, 0.80, 4000.0),
    ]
    settings = {
        "corpus": "toy", "corpus_dir": "corpus/toy", "tasks": ["tagger", "ner"], "seeds": [0, 1], "max_steps": 10,
        "eval_frequency": 5, "vectors": None, "speed_batch_size": 16, "speed_batches": 30, "threads": 1,
        "gpu_id": -1, "machine": {"platform": "test", "cpus": 2},
    }
    report = compare.markdown_report(records, settings)
    assert ("| spaCy tagger (efficiency) | 91.00 ± 1.41 | 10 ± 0 | 10.5 ± 0.7 | 21,000 ± 1,414 | 500 ± 0 | 400 ± 0 "
            "| 2/2 |") in report
    assert "| crf_tagger | 93.00 | 10 | 10.0 | 5,000 | 500 | 400 | 1/2 |" in report
    assert "for 10 steps (dev evaluation every 5" in report
    assert "| crf_ner | 80.00 | 80.00 | 80.00 |" in report and "| system | PER |" in report
    assert "## Failed runs\n\n- crf_tagger, seed 1: spacy train failed (exit 1)" in report
    summary = {(s["task"], s["system"]): s for s in compare.summarize(records)}
    assert summary["tagger", "crf"]["failed_seeds"] == [1]
    assert summary["tagger", "spacy-efficiency"]["scores.tag_acc"]["mean"] == pytest.approx(0.91)
    png = tmp_path / "plot.png"
    compare.plot(records, ["tagger", "ner"], png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- ablation -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ner_base():
    return Config().from_disk(ROOT / "configs" / "ner.cfg", interpolate=False)


def model_of(ablation, ner_base, key):
    config = ablation.build_variant_config(ner_base, "crf_ner", ablation.ROWS_BY_KEY[key])
    return config, config["components"]["crf_ner"]["model"]


def test_ablation_rows(ablation, ner_base):
    base = ner_base["components"]["crf_ner"]["model"]
    expected = {  # char_cnn, encoder cell, output
        "brnn": (False, "rnn", "softmax"),
        "blstm": (False, "lstm", "softmax"),
        "blstm-cnn": (True, "lstm", "softmax"),
        "blstm-cnn-crf": (True, "lstm", "crf"),
        "blstm-cnn-memm": (True, "lstm", "memm"),
    }
    for key, (char_cnn, cell, output) in expected.items():
        config, model = model_of(ablation, ner_base, key)
        assert (model["char_cnn"] == base["char_cnn"]) if char_cnn else model["char_cnn"] is None
        assert model["encoder"]["cell"] == cell and model["encoder"]["bidirectional"] is True
        assert model["output"] == output and model["tok2vec"] == base["tok2vec"]
        assert ("char_cnn = null" in config.to_str()) is not char_cnn
    assert model_of(ablation, ner_base, "blstm-cnn-crf")[1] == base  # the default config is the CRF row
    assert ner_base["components"]["crf_ner"]["model"]["output"] == "crf"  # base not modified


def test_ablation_feature_crf_row(ablation, ner_base):
    config, model = model_of(ablation, ner_base, "feature-crf")
    assert model["char_cnn"] is None and model["encoder"] is None and model["output"] == "crf"
    assert model["tok2vec"] == {
        "@architectures": "spacy-crf-tagger.LexicalFeatures.v1", "width": ablation.FEATURE_WIDTH,
        "attrs": ablation.FEATURE_ATTRS, "rows": ablation.FEATURE_ROWS, "window": 1,
        "include_static_vectors": "${system.static_vectors}",  # still follows [system]
    }
    text = config.to_str()
    assert "encoder = null" in text and "include_static_vectors = ${system.static_vectors}" in text
    resolved = Config().from_str(text)["components"]["crf_ner"]["model"]
    assert resolved["tok2vec"]["include_static_vectors"] is False and resolved["encoder"] is None


@pytest.mark.parametrize("key", ["brnn", "blstm-cnn-memm", "feature-crf"])
def test_ablation_configs_build(ablation, ner_base, key):
    """The generated configs make pipelines (the architectures accept the settings)."""
    config, _ = model_of(ablation, ner_base, key)
    nlp = spacy.util.load_model_from_config(Config().from_str(config.to_str()), auto_fill=True, validate=True)
    assert nlp.pipe_names == ["crf_ner"]


def test_ablation_row_on_a_config_without_the_block(ablation, ner_base):
    config, _ = model_of(ablation, ner_base, "feature-crf")  # encoder = null
    with pytest.raises(ValueError, match=r"Expected a \[components.crf_ner.model.encoder\] block .*'encoder.cell'"):
        ablation.build_variant_config(config, "crf_ner", ablation.ROWS_BY_KEY["brnn"])
    with pytest.raises(ValueError, match=r"Expected a \[components.crf_tagger.model\] block .*got components \['crf_ner'\]"):
        ablation.build_variant_config(ner_base, "crf_tagger", ablation.ROWS_BY_KEY["brnn"])


TINY_MODEL = {"tok2vec": {"width": 16, "rows": [200, 50, 50, 50]}, "char_cnn": None,
              "encoder": {"hidden_size": 8}, "dropout": 0.0}


def tiny_ner(output: str):
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_ner", config={"model": {**TINY_MODEL, "output": output}})
    doc = nlp.make_doc("Anna Smith visited Paris . Bob stayed .")
    nlp.initialize(lambda: [Example.from_dict(doc, {"entities": ["B-PER", "L-PER", "O", "U-LOC", "O", "U-PER", "O", "O"]})])
    return nlp


def gold_docs(nlp):
    words = "Anna Smith visited Paris . Bob stayed .".split()
    return [Doc(nlp.vocab, words=words, sent_starts=[True, False, False, False, False, True, False, False]),
            Doc(nlp.vocab, words=words[:5]),  # no sentence boundaries
            Doc(nlp.vocab, words=words, sent_starts=[True] + [False] * 7)]


def test_count_invalid_sequences(ablation, monkeypatch):
    from spacy_crf_tagger.pipeline.ner import NERPrediction

    nlp = tiny_ner("softmax")
    pipe = nlp.get_pipe("crf_ner")
    index = {tag: i for i, tag in enumerate(pipe.tag_names)}
    decoded = [
        ["B-PER", "L-PER", "O", "U-LOC", "B-LOC", "L-LOC", "O", "O"],  # valid, but an entity crosses sentences
        ["O", "I-PER", "O", "O", "O"],  # invalid
        ["U-PER", "O", "O", "O", "O", "O", "O", "O"],  # valid
    ]
    seen = []

    def predict(docs):
        seen.extend(docs)
        return NERPrediction([numpy.asarray([index[t] for t in tags]) for tags in decoded], [[] for _ in docs])

    monkeypatch.setattr(pipe, "predict", predict)
    docs = gold_docs(nlp)
    counts = ablation.count_invalid_sequences(nlp, docs)
    assert counts == {"docs": 3, "invalid_docs": 1, "sentences": None, "invalid_sentences": None}
    assert [len(d) for d in seen] == [8, 5, 8] and not any(d.ents for d in seen)
    decoded.pop(1)
    counts = ablation.count_invalid_sequences(nlp, [docs[0], docs[2]])
    # The entity across the sentence boundary leaves both sentences of the first doc invalid.
    assert counts == {"docs": 2, "invalid_docs": 0, "sentences": 3, "invalid_sentences": 2}


@pytest.mark.parametrize("output", ["crf", "softmax"])
def test_count_invalid_sequences_of_a_model(ablation, output):
    nlp = tiny_ner(output)
    docs = [gold_docs(nlp)[0]] * 3
    counts = ablation.count_invalid_sequences(nlp, docs, batch_size=2)
    assert counts["docs"] == 3 and counts["sentences"] == 6
    assert 0 <= counts["invalid_sentences"] <= 6 and 0 <= counts["invalid_docs"] <= 3
    if output == "crf":  # decoded under the scheme's constraints
        assert counts["invalid_docs"] == 0


def fake_ablation_record(task, row, name, seed, score, invalid=None, error=None, corpus="toy"):
    scores = {"tag_acc": score} if task == "tagger" else {"ents_p": score, "ents_r": score, "ents_f": score}
    return {"corpus": corpus, "task": task, "row": row, "name": name, "seed": seed,
            "train": {"wall_s": 10.0, "peak_rss_mb": 600.0}, "scores": None if error else scores,
            "invalid": invalid, "error": error}


def test_ablation_table(ablation, tmp_path):
    records = [
        fake_ablation_record("ner", "blstm-cnn-crf", "BLSTM-CNN-CRF", 0, 0.8,
                             {"docs": 6, "invalid_docs": 0, "sentences": 60, "invalid_sentences": 0}),
        fake_ablation_record("ner", "brnn", "BRNN", 0, 0.5,
                             {"docs": 6, "invalid_docs": 2, "sentences": 60, "invalid_sentences": 3}),
        fake_ablation_record("ner", "brnn", "BRNN", 1, 0.6,
                             {"docs": 6, "invalid_docs": 4, "sentences": 60, "invalid_sentences": 5}),
        fake_ablation_record("ner", "blstm-cnn-memm", "BLSTM-CNN-MEMM", 0, 0, error="config: unknown output 'memm'"),
        fake_ablation_record("tagger", "brnn", "BRNN", 0, 0.9, corpus="ewt"),
    ]
    text = ablation.results_table(records)
    lines = text.splitlines()
    assert lines[0] == ("| model | POS acc (ewt) | NER P (toy) | NER R | NER F1 | NER invalid docs | "
                        "NER invalid sentences | POS runs ok | NER runs ok |")
    assert lines[2] == "| BRNN | 90.00 | 55.00 ± 7.07 | 55.00 ± 7.07 | 55.00 ± 7.07 | 3.0 ± 1.4 / 6 | 4.0 ± 1.4 / 60 | 1/1 | 2/2 |"
    assert lines[3] == "| BLSTM-CNN-CRF | – | 80.00 | 80.00 | 80.00 | 0 / 6 | 0 / 60 | 0/0 | 1/1 |"  # Ma & Hovy's order
    assert lines[4] == "| BLSTM-CNN-MEMM | – | – | – | – | – | – | 0/0 | 0/1 |"
    with pytest.raises(ValueError, match=r"Expected the ner runs to come from one corpus, got \['conll', 'toy'\]"):
        ablation.results_table(records + [fake_ablation_record("ner", "brnn", "BRNN", 2, 0.5, corpus="conll")])
    # `table`: one table from several results.json
    settings = {"corpus": "toy", "tasks": ["ner"], "max_steps": 10, "seeds": [0]}
    (tmp_path / "a.json").write_text(json.dumps({"settings": settings, "runs": records[:4]}))
    (tmp_path / "b.json").write_text(json.dumps({"settings": {**settings, "corpus": "ewt", "tasks": ["tagger"]},
                                                 "runs": records[4:]}))
    assert ablation.main(["table", str(tmp_path / "t.md"), str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    merged = (tmp_path / "t.md").read_text()
    assert lines[2] in merged and "- BLSTM-CNN-MEMM (toy, ner, seed 0): config: unknown output 'memm'" in merged
    # one task: a single count
    single = ablation.results_table(records[:4]).splitlines()
    assert single[0].endswith("| NER invalid sentences | runs ok |") and single[2].endswith("| 2/2 |")


# -- end to end -----------------------------------------------------------------------


def sample_corpus(path: Path) -> Path:
    """assets/sample's CoNLL-U as train/dev/test.spacy, as `spacy convert -c conllu -n 10` writes them."""
    from spacy.training.converters import conllu_to_docs

    path.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        text = (ROOT / "assets" / "sample" / f"{split}.conllu").read_text(encoding="utf8")
        DocBin(docs=list(conllu_to_docs(text, n_sents=10, no_print=True))).to_disk(path / f"{split}.spacy")
    return path


@pytest.mark.slow
def test_ablation_end_to_end_on_the_sample(ablation, tmp_path):
    corpus = sample_corpus(tmp_path / "corpus" / "sample")
    out, training = tmp_path / "metrics", tmp_path / "training"
    argv = ["run", str(corpus), str(out), str(training), "--tasks", "ner", "--rows", "brnn,blstm-cnn-crf",
            "--max-steps", "6", "--eval-frequency", "3"]
    assert ablation.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    runs = {r["row"]: r for r in results["runs"]}
    assert set(runs) == {"brnn", "blstm-cnn-crf"} and not any(r["error"] for r in runs.values())
    for run in runs.values():
        assert 0.0 <= run["scores"]["ents_f"] <= 1.0 and run["train"]["wall_s"] > 0
        assert run["invalid"]["docs"] == 6 and run["invalid"]["sentences"] == 60
    assert runs["blstm-cnn-crf"]["invalid"]["invalid_docs"] == 0
    assert (out / "runs" / "ner-brnn-s0.json").exists()
    assert "| BRNN | " in (out / "results.md").read_text()
    config = Config().from_disk(training / "configs" / "ner-brnn.cfg", interpolate=False)
    assert config["components"]["crf_ner"]["model"]["encoder"]["cell"] == "rnn"


# -- unseen_words ---------------------------------------------------------------------


def test_accuracy_by_seen_words():
    unseen_words = load_script("unseen_words")
    nlp = spacy.blank("en")

    @spacy.Language.component("tag_by_case_for_test")
    def tag_by_case(doc):
        for token in doc:
            token.tag_ = "NNP" if token.is_title else "NN"
        return doc

    nlp.add_pipe("tag_by_case_for_test")
    gold = Doc(nlp.vocab, words=["Anna", "saw", "Zed", "dogs"], tags=["NNP", "VBD", "NNP", "NNS"])
    untagged = Doc(nlp.vocab, words=["Bo"])  # no gold tags: not scored
    scores = unseen_words.accuracy_by_seen(nlp, {"Anna", "saw"}, [gold, untagged], "tag", ["tag_by_case_for_test"], 8)
    assert scores["seen_tokens"] == 2 and scores["seen_accuracy"] == 0.5  # Anna right, saw wrong
    assert scores["unseen_tokens"] == 2 and scores["unseen_accuracy"] == 0.5  # Zed right, dogs wrong
    assert scores["accuracy"] == 0.5


def test_init_glove_vectors_adds_cased_keys_and_creates_parent_folders(tmp_path, monkeypatch):
    glove = load_script("init_glove_vectors")
    data = numpy.arange(6, dtype="float32").reshape(2, 3)
    monkeypatch.setattr(glove, "load_glove", lambda: (["paris", "the"], data))
    output = tmp_path / "assets" / "vectors" / "glove"
    glove.main(str(output))
    vectors = spacy.load(output).vocab.vectors
    assert vectors.shape == (2, 3)
    for word in ("paris", "Paris", "PARIS"):
        assert vectors.find(key=word) == 0
    assert vectors.find(key="The") == vectors.find(key="the") == 1


# -- ensemble -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ensemble():
    return load_script("ensemble")


def test_pool_averages_the_crf_scores(ensemble):
    from spacy_crf_tagger.models.sequence_labeler import LabelerOutput

    from .util import random_potentials

    a, b = random_potentials(2, 4, 3, seed=0), random_potentials(2, 4, 3, seed=1)
    pooled = ensemble.pool([LabelerOutput(a, [0, 1], [4, 3]), LabelerOutput(b, [0, 1], [4, 3])])
    for field in ("emissions", "transitions", "start", "end"):
        assert torch.allclose(getattr(pooled.potentials, field), (getattr(a, field) + getattr(b, field)) / 2)
    assert torch.equal(pooled.potentials.mask, a.mask) and pooled.lengths == [4, 3]
    with pytest.raises(ValueError, match="Expected outputs for the same Docs"):
        ensemble.pool([LabelerOutput(a, [0, 1], [4, 3]), LabelerOutput(b, [0, 1], [4, 2])])


def test_pooled_local_models_decode_the_pool_of_their_local_distributions(ensemble):
    """Softmax and MEMM decode the mean scores as the renormalised geometric mean of the
    models' local distributions (per token; per token given the previous tag)."""
    import itertools

    from spacy_crf_tagger.models.pytorch.output_layers import get_output_layer
    from spacy_crf_tagger.models.sequence_labeler import LabelerOutput

    from .util import random_potentials

    lengths = [4, 3]
    parts = [random_potentials(2, 4, 3, lengths, seed=s) for s in (0, 1, 2)]
    pooled = ensemble.pool([LabelerOutput(p, [0, 1], lengths) for p in parts]).potentials
    # softmax: the argmax of the mean log-probabilities per token
    tags, _ = get_output_layer("softmax").decode(pooled)
    mean_log_probs = torch.stack([torch.log_softmax(p.emissions, dim=2) for p in parts]).mean(0)
    assert torch.equal(tags[pooled.mask], mean_log_probs.argmax(2)[pooled.mask])
    # MEMM: the best path under q(y_t | y_t-1) ~ prod_m p_m(y_t | y_t-1) ** (1 / M), by enumeration
    tags, _ = get_output_layer("memm").decode(pooled)

    def local(p, b, t):  # log p_m(y_t | y_t-1), shape (K_prev, K); the first token has no previous tag
        scores = (p.emissions[b, 0] + p.start).unsqueeze(0) if t == 0 else p.emissions[b, t] + p.transitions
        return torch.log_softmax(scores, dim=-1)

    for b, n in enumerate(lengths):
        q = [torch.log_softmax(torch.stack([local(p, b, t) for p in parts]).mean(0), dim=-1) for t in range(n)]
        best = max(
            itertools.product(range(3), repeat=n),
            key=lambda y: float(q[0][0, y[0]]) + sum(float(q[t][y[t - 1], y[t]]) for t in range(1, n)),
        )
        assert tags[b, :n].tolist() == list(best)


def saved_tagger(path: Path, seed: int, tags=None, output: str = "crf") -> Path:
    from .pipeline.util import TAGGED, small_model, tagged_examples, tagger_nlp, train

    fix_random_seed(seed)
    nlp = tagger_nlp(small_model(output=output))
    train(nlp, tagged_examples(nlp, TAGGED if tags is None else tags), steps=8)
    nlp.to_disk(path)
    return path


def tagged_corpus(path: Path) -> Path:
    from .pipeline.util import TAGGED

    nlp = spacy.blank("en")
    DocBin(docs=[Doc(nlp.vocab, words=text.split(), tags=tags) for text, tags in TAGGED]).to_disk(path)
    return path


def test_a_model_pooled_with_itself_scores_as_spacy_scores_it(ensemble, tmp_path):
    from spacy.training import Corpus

    corpus = tagged_corpus(tmp_path / "test.spacy")
    model = saved_tagger(tmp_path / "a", seed=0)
    result = ensemble.pooled_scores(corpus, [str(model), str(model)])
    nlp = spacy.load(model)
    expected = nlp.evaluate(list(Corpus(corpus)(nlp)))["tag_acc"]  # what `spacy benchmark accuracy` computes
    assert result["component"] == "crf_tagger"
    assert [r["scores"]["tag_acc"] for r in result["models"]] == [expected, expected]
    assert result["pooled"]["tag_acc"] == pytest.approx(expected)
    # two different models: the script runs end to end and writes its JSON
    other = saved_tagger(tmp_path / "b", seed=1)
    ensemble.main([str(corpus), str(tmp_path / "out" / "pooled.json"), str(model), str(other)])
    written = json.loads((tmp_path / "out" / "pooled.json").read_text())
    assert 0.0 <= written["pooled"]["tag_acc"] <= 1.0 and len(written["models"]) == 2


@pytest.mark.parametrize("output", ["softmax", "memm"])
def test_a_local_model_pooled_with_itself_scores_as_alone(ensemble, tmp_path, output):
    corpus = tagged_corpus(tmp_path / "test.spacy")
    model = saved_tagger(tmp_path / output, seed=0, output=output)
    result = ensemble.pooled_scores(corpus, [str(model), str(model)])
    assert result["pooled"]["tag_acc"] == pytest.approx(result["models"][0]["scores"]["tag_acc"])


def test_ner_pooled_with_itself_scores_as_alone(ensemble, tmp_path):
    from .pipeline.util import entity_examples, train

    nlp = spacy.blank("en")
    nlp.add_pipe("crf_ner", config={"model": TINY_MODEL})
    examples = entity_examples(nlp)
    train(nlp, examples, steps=10)
    nlp.to_disk(tmp_path / "ner")
    DocBin(docs=[eg.reference for eg in examples]).to_disk(tmp_path / "test.spacy")
    result = ensemble.pooled_scores(tmp_path / "test.spacy", [str(tmp_path / "ner")] * 2)
    assert result["component"] == "crf_ner"
    assert result["pooled"]["ents_f"] == pytest.approx(result["models"][0]["scores"]["ents_f"])


def test_pooling_says_what_to_do(ensemble, tmp_path):
    corpus = tagged_corpus(tmp_path / "test.spacy")
    model = saved_tagger(tmp_path / "a", seed=0)
    fewer = saved_tagger(tmp_path / "b", seed=0, tags=[("Dogs bark", ["NNS", "VBP"])])
    with pytest.raises(ValueError, match=r"Expected every model to use the tags of .*a \(8 tags\), got 2 different ones in .*b\. Pool models"):
        ensemble.pooled_scores(corpus, [str(model), str(fewer)])
    local = saved_tagger(tmp_path / "c", seed=0, output="softmax")
    with pytest.raises(ValueError, match=r"Expected every model to use the output layer of .*a \('crf'\), got 'softmax' in .*c\. Pool models of one"):
        ensemble.pooled_scores(corpus, [str(model), str(local)])
    with pytest.raises(ValueError, match=r"Expected the component 'crf_ner' in the pipeline, got CRF components \['crf_tagger'\]"):
        ensemble.pooled_scores(corpus, [str(model)], component="crf_ner")
