"""Compare crf_tagger / crf_ner with spaCy's built-in tagger / ner on one corpus.

    python scripts/compare.py corpus/sample metrics/compare/sample training/compare/sample \\
        --tasks auto --seeds 0,1,2 --max-steps 3000 --eval-frequency 500 \\
        --vectors null --speed-batch-size 64 --speed-batches 30 --gpu-id -1

Systems, for each task (`tagger`: token.tag, `ner`: entities):

  spacy-efficiency   spaCy's `tagger` / `ner` from `spacy init config -p TASK -o efficiency`
  spacy-accuracy     the same with `-o accuracy` (CNN tok2vec without `-G`)
  crf                ours, `configs/tagger.cfg` / `configs/ner.cfg`
  crf-accuracy       ours, `configs/TASK_accuracy.cfg` (`tagger_accuracy.cfg`: character
                     BiLSTM + language-modelling objective + 400-unit BiLSTM), with --vectors
                     `configs/TASK_vectors_accuracy.cfg` where there is one
                     (`ner_vectors_accuracy.cfg`: character BiLSTM); only for tasks that
                     have one, and only when named in --systems

Everything that decides the comparison is the same for all of them, on one machine
in one run: the corpus, `[training]` max_steps / eval_frequency (patience off, no
epoch limit), the optional time budget (--max-minutes: each training stops at its
first dev evaluation after that time, for systems too slow for a step budget, such as
spaCy's accuracy preset on CoNLL-2003), the batcher (ours, copied into spaCy's
configs), the seed, the thread count (--threads), the GPU, and, where --vectors names
a spaCy pipeline with vectors (e.g. GloVe 6B 50d from `weasel run vectors`), the
static vectors in every system's word features. Each system keeps its own network
and optimiser settings: that is what is compared.

Every run trains with `spacy train`, scores the test split with `spacy benchmark
accuracy`, and measures words/s with `spacy benchmark speed --batch-size N` (the
same N for all). Training wall time and the peak resident memory of the training
and speed processes are measured per process. Written to OUTPUT_DIR:

  runs/TASK-SYSTEM-sSEED.json   one record per run (scores, times, memory, or its error)
  results.json                  the settings, every run and the mean/sd per system
  results.md                    tables, mean ± sd over the seeds
  accuracy_vs_speed.png         test accuracy against words/s (log scale)

Models, generated configs and logs go to TRAINING_DIR. A run that fails is
recorded with its error and the rest go on; the exit status is 1 only when no run
succeeded.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from thinc.api import Config

import benchmark_utils as bu

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = ("spacy-efficiency", "spacy-accuracy", "crf", "crf-accuracy")
DEFAULT_SYSTEMS = ("spacy-efficiency", "spacy-accuracy", "crf")
PRESETS = {"spacy-efficiency": "efficiency", "spacy-accuracy": "accuracy"}
# Our systems: configs/TASK{SUFFIX}.cfg, or with vectors configs/TASK_vectors{SUFFIX}.cfg where there is one.
OUR_CONFIG_SUFFIX = {"crf": "", "crf-accuracy": "_accuracy"}
TASK_TITLES = {"tagger": "Part-of-speech tagging", "ner": "Named entity recognition"}
# Where spaCy's CPU presets keep the word features of their shared tok2vec.
PRESET_EMBED = ("components", "tok2vec", "model", "embed")


def system_label(task: str, system: str) -> str:
    """ "spaCy tagger (efficiency)", ..., "crf_ner", "crf_tagger (accuracy)"."""
    if system == "crf":
        return f"crf_{task}"
    if system == "crf-accuracy":
        return f"crf_{task} (accuracy)"
    return f"spaCy {task} ({PRESETS[system]})"


def training_overrides(
    corpus: Mapping[str, Path], seed: int, max_steps: int, eval_frequency: int, vectors: Optional[str], lang: str
) -> Dict[str, Any]:
    """The `spacy train` overrides every system gets: data, seed, step budget."""
    return {
        "paths.train": corpus["train"],
        "paths.dev": corpus["dev"],
        "paths.vectors": vectors,
        "nlp.lang": lang,
        "system.seed": seed,
        "training.max_steps": max_steps,
        "training.max_epochs": 0,
        "training.eval_frequency": eval_frequency,
        "training.patience": 0,  # no early stop: the same number of updates for all
    }


def adapt_preset(preset: Config, reference: Config, static_vectors: bool) -> Config:
    """spaCy's preset config with our batcher and the static vectors switched on or off.

    preset (Config): From `spacy init config`, not interpolated.
    reference (Config): Our config for the task (its [training.batcher] is used).
    static_vectors (bool): Whether the preset's word features use the pipeline's vectors
        (the accuracy preset turns them on and names en_core_web_lg; the vectors
        themselves come from the `paths.vectors` override).
    RETURNS (Config): A new config.
    """
    config = preset.copy()
    node: Any = config
    for key in PRESET_EMBED:
        if not isinstance(node, Mapping) or key not in node:
            raise ValueError(
                f"Expected spaCy's preset config to have [{'.'.join(PRESET_EMBED)}] (its shared "
                "tok2vec's word features), got none. The presets of this spaCy version differ "
                "from spaCy 3.8's; adapt PRESET_EMBED in scripts/compare.py."
            )
        node = node[key]
    node["include_static_vectors"] = static_vectors
    config["paths"]["vectors"] = None
    config["training"]["batcher"] = copy.deepcopy(reference["training"]["batcher"])
    return config


def prepare_config(
    task: str, system: str, configs_dir: Path, out_dir: Path, lang: str, static_vectors: bool, env: Mapping[str, str]
) -> Tuple[Path, Dict[str, Any]]:
    """The config file a system trains with, and the overrides only it needs.

    RETURNS (Tuple[Path, Dict[str, Any]]): The config's path and extra overrides.
    """
    ours = configs_dir / f"{task}.cfg"
    if system in OUR_CONFIG_SUFFIX:
        # With vectors, a task's own vectors config where there is one (ner_vectors.cfg,
        # ner_vectors_accuracy.cfg).
        suffix = OUR_CONFIG_SUFFIX[system]
        plain, with_vectors = (configs_dir / f"{task}{part}{suffix}.cfg" for part in ("", "_vectors"))
        config = with_vectors if static_vectors and with_vectors.exists() else plain
        if not config.exists():
            have = sorted(p.name for p in configs_dir.glob(f"*{suffix}.cfg"))
            hint = f", or give vectors to train {with_vectors.name}" if with_vectors.exists() else ""
            raise FileNotFoundError(
                f"Expected {config} for the system {system}, got no such file (matching "
                f"configs here: {', '.join(have) or 'none'}). Leave {system} out of "
                f"--systems for the {task} task{hint}."
            )
        return config, {"system.static_vectors": static_vectors}
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"{task}-{system}-init.cfg"
    made = bu.run_measured(
        bu.spacy_command("init", "config", raw, "-p", task, "-o", PRESETS[system], "-l", lang, "-F"),
        out_dir / f"{task}-{system}-init.log",
        env,
    )
    if not made.ok:
        raise RuntimeError(made.error("spacy init config"))
    preset = Config().from_disk(raw, interpolate=False)
    reference = Config().from_disk(ours, interpolate=False)
    path = out_dir / f"{task}-{system}.cfg"
    adapt_preset(preset, reference, static_vectors).to_disk(path)
    return path, {}


def run_system(
    task: str,
    system: str,
    seed: int,
    config: Path,
    overrides: Mapping[str, Any],
    settings: Mapping[str, Any],
    args: argparse.Namespace,
    corpus: Mapping[str, Path],
    env: Mapping[str, str],
) -> Dict[str, Any]:
    """Train one system with one seed, score it and time it.

    RETURNS (Dict[str, Any]): The run's record; ``error`` says what failed, if anything.
    """
    run_dir = args.training_dir / f"{task}-{system}-s{seed}"
    record: Dict[str, Any] = {
        "corpus": args.corpus, "task": task, "system": system, "label": system_label(task, system),
        "seed": seed, "config": str(config), "settings": dict(settings),
        "train": None, "scores": None, "speed": None, "error": None,
    }
    model = bu.train_and_score(record, config, run_dir, overrides, corpus["test"], args.gpu_id, env,
                               bu.time_budget_s(args))
    if model is None:
        return record
    timed = bu.run_measured(
        bu.spacy_command("benchmark", "speed", model, corpus["test"], "--batch-size", args.speed_batch_size,
                         "--batches", args.speed_batches, "--warmup", 1, "--gpu-id", args.gpu_id),
        run_dir / "speed.log",
        env,
    )
    if not timed.ok:
        record["error"] = timed.error("spacy benchmark speed")
        return record
    record["speed"] = {
        **bu.parse_words_per_second(timed.output()),
        "peak_rss_mb": timed.peak_rss_mb,
        "wall_s": timed.wall_s,
        "batch_size": args.speed_batch_size,
        "batches": args.speed_batches,
    }
    return record


# -- summaries ----------------------------------------------------------------------

COST_COLUMNS = (
    ("steps", "train.last_evaluated_step", 1.0, 0),
    ("train time (s)", "train.wall_s", 1.0, 1),
    ("words/s", "speed.words_per_s", 1.0, 0),
    ("train peak MB", "train.peak_rss_mb", 1.0, 0),
    ("inference peak MB", "speed.peak_rss_mb", 1.0, 0),
)
SCORE_COLUMNS = {
    "tagger": (("tag_acc", "scores.tag_acc", 100.0, 2),),
    "ner": (("P", "scores.ents_p", 100.0, 2), ("R", "scores.ents_r", 100.0, 2), ("F", "scores.ents_f", 100.0, 2)),
}


def succeeded(records: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    return [r for r in records if not r.get("error")]


def summarize(records: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Mean and sd of every table column per (task, system), for results.json."""
    summary = []
    for (task, system), runs in bu.group_runs(records, "task", "system").items():
        ok = succeeded(runs)
        entry: Dict[str, Any] = {
            "task": task, "system": system, "label": system_label(task, system),
            "seeds": [r["seed"] for r in ok], "failed_seeds": [r["seed"] for r in runs if r.get("error")],
        }
        for name, path, _, _ in SCORE_COLUMNS[task] + COST_COLUMNS:
            mean, sd, n = bu.mean_sd(bu.get_path(r, path) for r in ok)
            entry[path] = {"mean": mean, "sd": sd, "n": n}
        summary.append(entry)
    return summary


def entity_types(records: Sequence[Mapping[str, Any]]) -> List[str]:
    found = set()
    for r in succeeded(records):
        found.update((bu.get_path(r, "scores.ents_per_type") or {}).keys())
    return sorted(found)


def task_tables(task: str, records: Sequence[Mapping[str, Any]]) -> str:
    """The markdown tables of one task: scores and costs per system, mean ± sd."""
    rows = []
    groups = bu.group_runs([r for r in records if r["task"] == task], "system")
    for (system,), runs in groups.items():
        ok = succeeded(runs)
        cells = [system_label(task, system)]
        cells += [bu.format_mean_sd((bu.get_path(r, path) for r in ok), scale, digits)
                  for _, path, scale, digits in SCORE_COLUMNS[task] + COST_COLUMNS]
        cells.append(f"{len(ok)}/{len(runs)}")
        rows.append(cells)
    header = ["system", *(name for name, *_ in SCORE_COLUMNS[task] + COST_COLUMNS), "seeds ok"]
    text = bu.markdown_table(header, rows)
    if task == "ner":
        types = entity_types([r for r in records if r["task"] == task])
        if types:
            type_rows = [
                [system_label(task, system)]
                + [bu.format_mean_sd((bu.get_path(r, f"scores.ents_per_type.{t}.f") for r in succeeded(runs)), 100.0)
                   for t in types]
                for (system,), runs in groups.items()
            ]
            text += "\n\nF per entity type:\n\n" + bu.markdown_table(["system", *types], type_rows)
    return text


def markdown_report(records: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> str:
    """results.md: what was run, then one section per task, then the failures."""
    s = settings
    vectors = (f"static vectors from `{s['vectors']}` in every system's word features"
               if s["vectors"] else "no pretrained vectors")
    lines = [
        f"# spaCy's built-in components vs crf_tagger / crf_ner: {s['corpus']}",
        "",
        f"Corpus `{s['corpus_dir']}`, scored on its test split with `spacy benchmark accuracy`. Every "
        f"system trained with `spacy train` for {bu.budget_text(s)} (dev evaluation every "
        f"{s['eval_frequency']}, model-best scored), the same batcher, {vectors}; seeds "
        f"{', '.join(map(str, s['seeds']))}, mean ± sd where more than one succeeded. spaCy's "
        "systems: `spacy init config -p TASK -o efficiency|accuracy`. Words/s: `spacy benchmark "
        f"speed --batch-size {s['speed_batch_size']} --batches {s['speed_batches']}`. Peak MB: peak "
        f"resident memory of the `spacy train` and `spacy benchmark speed` processes. "
        f"{s['threads']} thread(s) per process, GPU id {s['gpu_id']}, on {s['machine']['platform']} "
        f"({s['machine']['cpus']} CPUs).",
    ]
    for task in s["tasks"]:
        lines += ["", f"## {TASK_TITLES[task]}", "", task_tables(task, records)]
    failed = bu.failures(records, lambda r: f"{system_label(r['task'], r['system'])}, seed {r['seed']}")
    if failed:
        lines += ["", "## Failed runs", "", *failed]
    return "\n".join(lines) + "\n"


def plot(records: Sequence[Mapping[str, Any]], tasks: Sequence[str], path: Path) -> None:
    """Test accuracy (tag_acc / ents_f) against words/s, log x, one panel per task,
    mean with ± sd bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        score = bu.MAIN_SCORE[task]
        xs = []
        for (system,), runs in bu.group_runs([r for r in records if r["task"] == task], "system").items():
            ok = succeeded(runs)
            x, x_sd, _ = bu.mean_sd(bu.get_path(r, "speed.words_per_s") for r in ok)
            y, y_sd, _ = bu.mean_sd(bu.get_path(r, f"scores.{score}") for r in ok)
            if x is None or y is None or x <= 0:
                continue
            xs.append(x)
            ax.errorbar(x, 100 * y, xerr=x_sd, yerr=None if y_sd is None else 100 * y_sd, fmt="o", capsize=3,
                        label=system_label(task, system))
            ax.annotate(system_label(task, system), (x, 100 * y), textcoords="offset points", xytext=(6, 4),
                        fontsize=8)
        ax.set_xscale("log")
        if xs:  # room for the labels right of the points
            ax.set_xlim(min(xs) / 1.6, max(xs) * 4)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.margins(y=0.12)
        ax.set_xlabel("words/s (spacy benchmark speed, log scale)")
        ax.set_ylabel(f"test {score} (%)")
        ax.set_title(TASK_TITLES[task])
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- command line -------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bu.add_common_args(ap, ROOT / "configs")
    ap.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS), help=f"from {','.join(SYSTEMS)}")
    ap.add_argument("--speed-batch-size", type=int, default=64, help="docs per batch in `spacy benchmark speed`")
    ap.add_argument("--speed-batches", type=int, default=30, help="batches timed (spaCy requires >= 30)")
    args = ap.parse_args(argv)
    problem = bu.check_common_args(args)
    if problem:
        ap.error(problem)
    if args.speed_batch_size < 1:
        ap.error(f"Expected --speed-batch-size >= 1, got {args.speed_batch_size}.")
    if args.speed_batches < 30:
        ap.error(f"Expected --speed-batches >= 30 (`spacy benchmark speed` requires it), got {args.speed_batches}.")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    corpus = bu.corpus_files(args.corpus_dir)
    tasks = bu.resolve_tasks(args.tasks, args.corpus, corpus["train"])
    systems = bu.parse_names(args.systems, SYSTEMS, "systems")
    seeds = bu.parse_seeds(args.seeds)
    env = bu.child_env(args.threads or None)
    settings = {
        "corpus": args.corpus, "corpus_dir": str(args.corpus_dir), "tasks": tasks, "systems": systems,
        "seeds": seeds, "max_steps": args.max_steps, "max_minutes": args.max_minutes,
        "eval_frequency": args.eval_frequency, "vectors": args.vectors,
        "speed_batch_size": args.speed_batch_size, "speed_batches": args.speed_batches,
        "gpu_id": args.gpu_id, "threads": args.threads, "lang": args.lang, "machine": bu.machine(),
    }
    records: List[Dict[str, Any]] = []
    for task in tasks:
        for system in systems:
            label = system_label(task, system)
            try:
                config, extra = prepare_config(task, system, args.configs_dir, args.training_dir / "configs",
                                               args.lang, bool(args.vectors), env)
            except Exception as err:  # noqa: BLE001 - recorded, the other systems go on
                bu.log(f"[compare] {label}: no config: {err}")
                records += [{"corpus": args.corpus, "task": task, "system": system, "label": label, "seed": seed,
                             "error": f"config: {err}"} for seed in seeds]
                continue
            for seed in seeds:
                overrides = {**training_overrides(corpus, seed, args.max_steps, args.eval_frequency, args.vectors,
                                                  args.lang), **extra}
                run_settings = {k: settings[k] for k in ("corpus_dir", "max_steps", "max_minutes",
                                                         "eval_frequency", "vectors", "speed_batch_size",
                                                         "speed_batches", "gpu_id", "threads")}
                run_settings.update(task=task, system=system, seed=seed,
                                    config_digest=bu.digest(config.read_text(encoding="utf8")))
                path = args.output_dir / "runs" / f"{task}-{system}-s{seed}.json"
                record = bu.reusable_record(path, run_settings) if args.resume else None
                if record is None:
                    bu.log(f"[compare] {label}, seed {seed}: training for {bu.budget_text(settings)} ...")
                    record = run_system(task, system, seed, config, overrides, run_settings, args, corpus, env)
                    bu.write_json(path, record)
                if record.get("error"):
                    bu.log(f"[compare] {label}, seed {seed}: FAILED: {record['error']}")
                else:
                    bu.log(f"[compare] {label}, seed {seed}: {bu.MAIN_SCORE[task]} "
                           f"{record['scores'].get(bu.MAIN_SCORE[task])}, {record['speed']['words_per_s']:.0f} "
                           f"words/s, trained in {record['train']['wall_s']:.1f} s")
                records.append(record)
    bu.write_json(args.output_dir / "results.json",
                  {"settings": settings, "summary": summarize(records), "runs": records})
    report = markdown_report(records, settings)
    (args.output_dir / "results.md").write_text(report, encoding="utf8")
    plot(records, tasks, args.output_dir / "accuracy_vs_speed.png")
    print(report)
    if not succeeded(records):
        print("[compare] every run failed; see the errors above.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
