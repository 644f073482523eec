"""The ablation of the BiLSTM-CNN-CRF (Ma & Hovy 2016, Table 3 shape), plus an MEMM and
a classic feature CRF, trained with `spacy train` on one corpus.

    python scripts/ablation.py run corpus/sample metrics/ablation/sample training/ablation/sample \\
        --tasks auto --seeds 0 --max-steps 100 --eval-frequency 50 --vectors null --gpu-id -1
    python scripts/ablation.py table metrics/ablation/table.md \\
        metrics/ablation/ewt/results.json metrics/ablation/conll/results.json

Rows, each a variant of `configs/tagger.cfg` / `configs/ner.cfg` (the component's
`spacy-crf-tagger.SequenceLabeler.v1` model block; everything else unchanged):

  BRNN            simple RNN (bidirectional), word features only, softmax
  BLSTM           LSTM (bidirectional), word features only, softmax
  BLSTM-CNN       LSTM + character CNN, softmax
  BLSTM-CNN-CRF   LSTM + character CNN, linear-chain CRF (the default configs)
  BLSTM-CNN-MEMM  LSTM + character CNN, MEMM (locally normalised given the previous
                  tag, Viterbi over the local probabilities)
  Feature CRF     hand-crafted lexical features (word, affixes, shape; the
                  neighbouring words) straight into the CRF: no encoder, no CNN

Columns: the tagger's test `tag_acc`, NER test P / R / F1, and for NER the number of
invalid tag sequences (e.g. `I-PER` after `O`) each model decodes before the component
repairs them into entities: counted per document (what the model decodes) and per
sentence where the corpus has sentence boundaries. The CRF rows decode under the
scheme's constraints, so theirs are 0 by construction.

`run` writes OUTPUT_DIR/runs/TASK-ROW-sSEED.json per run, OUTPUT_DIR/results.json
(settings and every run) and OUTPUT_DIR/results.md (mean ± sd over the seeds); the
generated configs, models and logs go to TRAINING_DIR. A row whose config does not
build or whose training fails is reported as failed, with its error, and the others go
on; the exit status is 1 only when no run succeeded. `table` renders one table from
several results.json (e.g. POS from EWT and NER from CoNLL-2003).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from thinc.api import Config

import benchmark_utils as bu

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = {"tagger": "crf_tagger", "ner": "crf_ner"}
# The feature CRF's word features: spacy-crf-tagger.LexicalFeatures.v1.
LEXICAL_FEATURES = "spacy-crf-tagger.LexicalFeatures.v1"
FEATURE_ATTRS = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
FEATURE_ROWS = [5000, 1000, 2500, 2500]
FEATURE_WIDTH = 50  # per attribute
FEATURE_WINDOW = 1  # neighbouring tokens on each side
# In a row's changes: replace the word features by LexicalFeatures over FEATURE_ATTRS
# (a classic CRF reads affixes itself, whatever the base config hashes) and the base
# config's include_static_vectors.
USE_LEXICAL_FEATURES = object()


@dataclass(frozen=True)
class Row:
    """One system of the ablation.

    key (str): Short name used in file names and --rows, e.g. "blstm-cnn-crf".
    name (str): Its name in the table, e.g. "BLSTM-CNN-CRF".
    changes (Mapping[str, Any]): Model settings to set, as dotted paths inside the
        component's model block ("encoder.cell"); None gives a `null` section.
    """

    key: str
    name: str
    changes: Mapping[str, Any]


BLSTM = {"encoder.cell": "lstm", "encoder.bidirectional": True}
ROWS = (
    Row("brnn", "BRNN", {"encoder.cell": "rnn", "encoder.bidirectional": True, "char_cnn": None, "output": "softmax"}),
    Row("blstm", "BLSTM", {**BLSTM, "char_cnn": None, "output": "softmax"}),
    Row("blstm-cnn", "BLSTM-CNN", {**BLSTM, "output": "softmax"}),
    Row("blstm-cnn-crf", "BLSTM-CNN-CRF", {**BLSTM, "output": "crf"}),
    Row("blstm-cnn-memm", "BLSTM-CNN-MEMM", {**BLSTM, "output": "memm"}),
    Row("feature-crf", "Feature CRF",
        {"tok2vec": USE_LEXICAL_FEATURES, "char_cnn": None, "encoder": None, "output": "crf"}),
)
ROWS_BY_KEY = {row.key: row for row in ROWS}


# -- configs --------------------------------------------------------------------------


def lexical_features(base_tok2vec: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The feature CRF's word-feature block: word, prefix, suffix and shape over a
    window, keeping the base block's static-vector switch where it has one."""
    base = dict(base_tok2vec or {})
    return {
        "@architectures": LEXICAL_FEATURES,
        "width": FEATURE_WIDTH,
        "attrs": list(FEATURE_ATTRS),
        "rows": list(FEATURE_ROWS),
        "window": FEATURE_WINDOW,
        "include_static_vectors": base.get("include_static_vectors", False),
    }


def set_setting(block: Dict[str, Any], dotted: str, value: Any, where: str) -> None:
    """Set ``block["a"]["b"] = value`` for ``dotted = "a.b"``, where "a" must exist."""
    *parents, last = dotted.split(".")
    node = block
    for i, key in enumerate(parents):
        if not isinstance(node.get(key), dict):
            path = ".".join([where, *parents[: i + 1]])
            raise ValueError(
                f"Expected a [{path}] block in the base config to set {dotted!r}, got "
                f"{node.get(key)!r}. Use a base config with that block (configs/tagger.cfg, configs/ner.cfg)."
            )
        node = node[key]
    node[last] = value


def build_variant_config(base: Config, component: str, row: Row) -> Config:
    """A row's config: the base config with the row's changes to the component's model.

    base (Config): configs/tagger.cfg or configs/ner.cfg, not interpolated.
    component (str): "crf_tagger" or "crf_ner".
    RETURNS (Config): A new config; sections set to None are written as `null`.
    """
    config = base.copy()
    try:
        model = config["components"][component]["model"]
    except KeyError:
        raise ValueError(
            f"Expected a [components.{component}.model] block in the base config, got components "
            f"{sorted(config.get('components', {}))}. Use configs/tagger.cfg or configs/ner.cfg."
        ) from None
    for dotted, value in row.changes.items():
        if value is USE_LEXICAL_FEATURES:
            value = lexical_features(model.get("tok2vec"))
        set_setting(model, dotted, value, f"components.{component}.model")
    return config


# -- invalid tag sequences ------------------------------------------------------------


def unannotated_copy(nlp, doc):
    """The words, spaces and sentence boundaries of a gold Doc, without annotation."""
    from spacy.tokens import Doc

    sent_starts = [token.is_sent_start for token in doc] if doc.has_annotation("SENT_START") else None
    return Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc],
               sent_starts=sent_starts)


def count_invalid_sequences(nlp, docs: Iterable, pipe_name: str = "crf_ner", batch_size: int = 64) -> Dict[str, Any]:
    """How many decoded tag sequences break the component's tag scheme, before
    ``set_annotations`` reads them into (repaired) entities.

    nlp (Language): A pipeline with the component; the components before it run first.
    docs (Iterable[Doc]): Gold Docs; only their words, spaces and sentence boundaries are used.
    pipe_name (str): The NER component (``predict`` must return ``.tag_ids``).
    RETURNS (Dict[str, Any]): ``docs``, ``invalid_docs``, and where every Doc has
        sentence boundaries ``sentences``, ``invalid_sentences`` (else None): a
        sentence is invalid when its own stretch of tags is (an entity may not cross it).
    """
    from spacy_crf_tagger.tag_schemes import is_valid

    pipe = nlp.get_pipe(pipe_name)
    scheme, names = pipe.cfg["scheme"], pipe.tag_names
    before = [proc for name, proc in nlp.pipeline[: nlp.pipe_names.index(pipe_name)]]
    counts: Dict[str, Any] = {"docs": 0, "invalid_docs": 0, "sentences": 0, "invalid_sentences": 0}
    all_have_sents = True
    docs = [unannotated_copy(nlp, doc) for doc in docs]
    for start in range(0, len(docs), batch_size):
        batch = docs[start : start + batch_size]
        for proc in before:
            batch = [proc(doc) for doc in batch]
        for doc, ids in zip(batch, pipe.predict(batch).tag_ids):
            tags = [names[i] for i in ids]
            counts["docs"] += 1
            counts["invalid_docs"] += not is_valid(tags, scheme)
            if doc.has_annotation("SENT_START"):
                for sent in doc.sents:
                    counts["sentences"] += 1
                    counts["invalid_sentences"] += not is_valid(tags[sent.start : sent.end], scheme)
            else:
                all_have_sents = False
    if not all_have_sents:
        counts["sentences"] = counts["invalid_sentences"] = None
    return counts


def invalid_on_test(model: Path, test: Path, gpu_id: int) -> Dict[str, Any]:
    """count_invalid_sequences for a trained pipeline on a .spacy file."""
    import spacy
    from spacy.tokens import DocBin

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = spacy.load(model)
    return count_invalid_sequences(nlp, DocBin().from_disk(test).get_docs(nlp.vocab), COMPONENTS["ner"])


# -- runs -----------------------------------------------------------------------------


def run_row(
    task: str, row: Row, seed: int, config: Path, settings: Mapping[str, Any], args: argparse.Namespace,
    corpus: Mapping[str, Path], env: Mapping[str, str],
) -> Dict[str, Any]:
    """Train one row with one seed and score it.

    RETURNS (Dict[str, Any]): The run's record; ``error`` says what failed, if anything.
    """
    run_dir = args.training_dir / f"{task}-{row.key}-s{seed}"
    record = new_record(args.corpus, task, row, seed)
    record.update(config=str(config), settings=dict(settings))
    overrides = {
        "paths.train": corpus["train"], "paths.dev": corpus["dev"], "paths.vectors": args.vectors,
        "system.static_vectors": bool(args.vectors), "system.seed": seed, "nlp.lang": args.lang,
        "training.max_steps": args.max_steps, "training.max_epochs": 0,
        "training.eval_frequency": args.eval_frequency, "training.patience": 0,
    }
    model = bu.train_and_score(record, config, run_dir, overrides, corpus["test"], args.gpu_id, env,
                               bu.time_budget_s(args))
    if model is None:
        return record
    if task == "ner":
        try:
            record["invalid"] = invalid_on_test(model, corpus["test"], args.gpu_id)
        except Exception as err:  # noqa: BLE001 - recorded, the other rows go on
            record["error"] = f"counting invalid sequences failed: {type(err).__name__}: {err}"
    return record


def new_record(corpus: str, task: str, row: Row, seed: int) -> Dict[str, Any]:
    return {"corpus": corpus, "task": task, "row": row.key, "name": row.name, "seed": seed,
            "train": None, "scores": None, "invalid": None, "error": None}


# -- tables ---------------------------------------------------------------------------

TASK_LABELS = {"tagger": "POS", "ner": "NER"}


def corpus_of_task(records: Sequence[Mapping[str, Any]], task: str) -> Optional[str]:
    corpora = sorted({r["corpus"] for r in records if r["task"] == task})
    if len(corpora) > 1:
        raise ValueError(
            f"Expected the {task} runs to come from one corpus, got {corpora}. Give one "
            "results.json per task (e.g. EWT for POS, CoNLL-2003 for NER)."
        )
    return corpora[0] if corpora else None


def format_count(values: List[Optional[int]], totals: List[Optional[int]]) -> str:
    """ "3 / 60" (one seed) or "2.5 ± 0.7 / 60"; "–" without counts."""
    counts = [v for v in values if v is not None]
    if not counts:
        return "–"
    total = max((t for t in totals if t is not None), default=None)
    text = bu.format_mean_sd(counts, digits=0 if len(counts) == 1 else 1)
    return f"{text} / {total}" if total is not None else text


def results_table(records: Sequence[Mapping[str, Any]]) -> str:
    """The Ma & Hovy Table 3 shaped markdown: one row per system, POS accuracy, NER
    P / R / F1, NER invalid sequences, then training time and peak memory."""
    tasks = [task for task in ("tagger", "ner") if any(r["task"] == task for r in records)]
    corpus = {task: corpus_of_task(records, task) for task in tasks}
    header, cost_header = ["model"], ["model"]
    if "tagger" in tasks:
        header.append(f"POS acc ({corpus['tagger']})")
    if "ner" in tasks:
        header += [f"NER P ({corpus['ner']})", "NER R", "NER F1", "NER invalid docs", "NER invalid sentences"]
    for task in tasks:
        cost_header += [f"{TASK_LABELS[task]} train time (s)", f"{TASK_LABELS[task]} train peak MB"]
    header += [f"{TASK_LABELS[task]} runs ok" for task in tasks] if len(tasks) > 1 else ["runs ok"]
    rows, cost_rows = [], []
    order = {row.key: i for i, row in enumerate(ROWS)}
    groups = bu.group_runs(sorted(records, key=lambda r: order.get(r["row"], len(order))), "row")
    for (key,), runs in groups.items():
        ok = [r for r in runs if not r.get("error")]
        by_task = {task: [r for r in ok if r["task"] == task] for task in tasks}
        cells, costs = [runs[0]["name"]], [runs[0]["name"]]
        if "tagger" in tasks:
            cells.append(bu.format_mean_sd((bu.get_path(r, "scores.tag_acc") for r in by_task["tagger"]), 100.0))
        if "ner" in tasks:
            ner = by_task["ner"]
            cells += [bu.format_mean_sd((bu.get_path(r, f"scores.{k}") for r in ner), 100.0)
                      for k in ("ents_p", "ents_r", "ents_f")]
            for unit, total in (("invalid_docs", "docs"), ("invalid_sentences", "sentences")):
                cells.append(format_count([bu.get_path(r, f"invalid.{unit}") for r in ner],
                                          [bu.get_path(r, f"invalid.{total}") for r in ner]))
        for task in tasks:
            costs += [bu.format_mean_sd((bu.get_path(r, "train.wall_s") for r in by_task[task]), digits=1),
                      bu.format_mean_sd((bu.get_path(r, "train.peak_rss_mb") for r in by_task[task]), digits=0)]
        if len(tasks) > 1:  # a row's POS and NER runs are counted apart
            cells += [f"{len(by_task[task])}/{sum(r['task'] == task for r in runs)}" for task in tasks]
        else:
            cells.append(f"{len(ok)}/{len(runs)}")
        rows.append(cells)
        cost_rows.append(costs)
    return (bu.markdown_table(header, rows) + "\n\nTraining cost (wall time and peak resident memory of "
            "`spacy train`):\n\n" + bu.markdown_table(cost_header, cost_rows))


def markdown_report(records: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> str:
    """results.md: what was run, the table, and the failed runs with their errors."""
    s = settings
    vectors = f"static vectors from `{s['vectors']}`" if s.get("vectors") else "no pretrained vectors"
    lines = [
        f"# Ablation: {', '.join(sorted({r['corpus'] for r in records}))}",
        "",
        f"Test scores from `spacy benchmark accuracy` (percent); each row trained with `spacy train` "
        f"for {bu.budget_text(s)} (dev evaluation every {s['eval_frequency']}, model-best "
        f"scored), {vectors}, seeds {', '.join(map(str, s['seeds']))} (mean ± sd where more than "
        "one succeeded). Invalid: decoded tag sequences that break the BILUO/BIO constraints "
        "before the component repairs them, in the test split: per document (the sequences the "
        "model decodes) and per sentence (each sentence's own stretch of tags, so an entity "
        "running across a sentence boundary also counts). "
        f"{s['threads']} thread(s) per process, GPU id {s['gpu_id']}, on "
        f"{s['machine']['platform']} ({s['machine']['cpus']} CPUs).",
        "",
        results_table(records),
    ]
    failed = bu.failures(records, lambda r: f"{r['name']} ({r['task']}, seed {r['seed']})")
    if failed:
        lines += ["", "## Failed runs", "", *failed]
    return "\n".join(lines) + "\n"


# -- command line ---------------------------------------------------------------------


def add_run_args(ap: argparse.ArgumentParser) -> None:
    bu.add_common_args(ap, ROOT / "configs")
    ap.add_argument("--rows", default=",".join(ROWS_BY_KEY), help=f"from {','.join(ROWS_BY_KEY)}")


def run(args: argparse.Namespace) -> int:
    problem = bu.check_common_args(args)
    if problem:
        raise SystemExit(problem)
    corpus = bu.corpus_files(args.corpus_dir)
    tasks = bu.resolve_tasks(args.tasks, args.corpus, corpus["train"])
    rows = [ROWS_BY_KEY[key] for key in bu.parse_names(args.rows, list(ROWS_BY_KEY), "rows")]
    seeds = bu.parse_seeds(args.seeds)
    env = bu.child_env(args.threads or None)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # for counting invalid sequences in this process
    settings = {
        "corpus": args.corpus, "corpus_dir": str(args.corpus_dir), "tasks": tasks, "rows": [r.key for r in rows],
        "seeds": seeds, "max_steps": args.max_steps, "max_minutes": args.max_minutes,
        "eval_frequency": args.eval_frequency, "vectors": args.vectors, "gpu_id": args.gpu_id,
        "threads": args.threads, "lang": args.lang,
        "machine": bu.machine(),
    }
    records: List[Dict[str, Any]] = []
    for task in tasks:
        component = COMPONENTS[task]
        base = Config().from_disk(args.configs_dir / f"{task}.cfg", interpolate=False)
        for row in rows:
            config = args.training_dir / "configs" / f"{task}-{row.key}.cfg"
            try:
                config.parent.mkdir(parents=True, exist_ok=True)
                build_variant_config(base, component, row).to_disk(config)
            except Exception as err:  # noqa: BLE001 - recorded, the other rows go on
                bu.log(f"[ablation] {row.name} ({task}): no config: {err}")
                for seed in seeds:
                    record = new_record(args.corpus, task, row, seed)
                    record["error"] = f"config: {err}"
                    records.append(record)
                continue
            for seed in seeds:
                run_settings = {k: settings[k] for k in ("corpus_dir", "max_steps", "max_minutes",
                                                         "eval_frequency", "vectors", "gpu_id", "threads")}
                run_settings.update(task=task, row=row.key, seed=seed,
                                    config_digest=bu.digest(config.read_text(encoding="utf8")))
                path = args.output_dir / "runs" / f"{task}-{row.key}-s{seed}.json"
                record = bu.reusable_record(path, run_settings) if args.resume else None
                if record is None:
                    bu.log(f"[ablation] {row.name} ({task}), seed {seed}: "
                           f"training for {bu.budget_text(settings)} ...")
                    record = run_row(task, row, seed, config, run_settings, args, corpus, env)
                    bu.write_json(path, record)
                if record.get("error"):
                    bu.log(f"[ablation] {row.name} ({task}), seed {seed}: FAILED: {record['error']}")
                else:
                    bu.log(f"[ablation] {row.name} ({task}), seed {seed}: {bu.MAIN_SCORE[task]} "
                           f"{record['scores'].get(bu.MAIN_SCORE[task])}, invalid {record.get('invalid')}")
                records.append(record)
    bu.write_json(args.output_dir / "results.json", {"settings": settings, "runs": records})
    report = markdown_report(records, settings)
    (args.output_dir / "results.md").write_text(report, encoding="utf8")
    print(report)
    if all(r.get("error") for r in records):
        print("[ablation] every run failed; see the errors above.", file=sys.stderr)
        return 1
    return 0


def table(args: argparse.Namespace) -> int:
    """One table from several results.json (e.g. POS from EWT, NER from CoNLL-2003)."""
    records, parts = [], []
    for path in args.results:
        data = json.loads(path.read_text(encoding="utf8"))
        records += data["runs"]
        s = data["settings"]
        parts.append(f"`{path}`: {s['corpus']} ({', '.join(s['tasks'])}), {bu.budget_text(s)}, "
                     f"seeds {', '.join(map(str, s['seeds']))}")
    text = "# Ablation\n\nFrom " + "; ".join(parts) + ". Test scores in percent, mean ± sd over the seeds.\n\n"
    text += results_table(records) + "\n"
    failed = bu.failures(records, lambda r: f"{r['name']} ({r['corpus']}, {r['task']}, seed {r['seed']})")
    if failed:
        text += "\n## Failed runs\n\n" + "\n".join(failed) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf8")
    print(text)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    add_run_args(sub.add_parser("run", help="train and score every row on one corpus"))
    merge = sub.add_parser("table", help="one table from several results.json")
    merge.add_argument("output", type=Path, help="the markdown file to write")
    merge.add_argument("results", type=Path, nargs="+", help="results.json files of `run`")
    args = ap.parse_args(argv)
    return run(args) if args.command == "run" else table(args)


if __name__ == "__main__":
    sys.exit(main())
