"""Shared helpers of `scripts/compare.py` and `scripts/ablation.py`.

They run spaCy's own CLI (`spacy init config`, `spacy train`, `spacy benchmark
accuracy`, `spacy benchmark speed`) in child processes and measure each child (wall
time, peak resident memory), read what spaCy prints, pick the tasks and seeds of a
comparison, and summarise repeated runs as mean ± sd in markdown tables.

Standard library only (spaCy is imported only where a corpus is read).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

SPLITS = ("train", "dev", "test")
TASKS = ("tagger", "ner")
# Corpora whose task is known by name (the project's `corpus` var); any other corpus
# gets the tasks its training data is annotated for.
KNOWN_CORPUS_TASKS: Dict[str, Tuple[str, ...]] = {"ewt": ("tagger",), "conll": ("ner",)}
# The scores `spacy benchmark accuracy` writes for each task, in table order.
TASK_SCORES: Dict[str, Tuple[str, ...]] = {"tagger": ("tag_acc",), "ner": ("ents_p", "ents_r", "ents_f")}
MAIN_SCORE: Dict[str, str] = {"tagger": "tag_acc", "ner": "ents_f"}
# The line `spacy benchmark speed` ends with.
SPEED_RE = re.compile(r"Mean: ([\d.]+) words/s \(95% CI: (-?[\d.]+) \+([\d.]+)\)")
# A dev evaluation row of spaCy's ConsoleLogger: epoch, step, losses and scores.
EVAL_ROW_RE = re.compile(r"^\s*\d+\s+(\d+)\s+\d", re.MULTILINE)


# -- child processes ----------------------------------------------------------------


@dataclass
class Measured:
    """A finished child process.

    command (List[str]): What ran.
    returncode (int): Its exit status.
    wall_s (float): Wall-clock seconds from start to exit.
    peak_rss_mb (Optional[float]): Peak resident memory of the child and the
        processes it waited for, in MiB (None where the platform does not say).
    log (Path): The file holding its stdout and stderr.
    stopped (bool): Whether ``run_measured`` ended it (its ``stop`` said so).
    """

    command: List[str]
    returncode: int
    wall_s: float
    peak_rss_mb: Optional[float]
    log: Path
    stopped: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 or self.stopped

    def output(self) -> str:
        """RETURNS (str): Everything the child printed."""
        return self.log.read_text(encoding="utf8", errors="replace")

    def error(self, what: str) -> str:
        """A one-paragraph description of a failure: what failed, the exit status,
        the log, and the child's last lines."""
        lines = [line.strip() for line in self.output().splitlines()[1:] if line.strip()]  # not the "$ command"
        return f"{what} failed (exit {self.returncode}; log {self.log}): " + " | ".join(lines[-4:])


def maxrss_mb(ru_maxrss: int) -> float:
    """ru_maxrss in MiB: Linux reports KiB, macOS bytes."""
    kib = ru_maxrss / 1024 if sys.platform == "darwin" else ru_maxrss
    return kib / 1024


def child_env(threads: Optional[int]) -> Dict[str, str]:
    """This process's environment, with the BLAS / OpenMP / torch thread count set to
    ``threads`` (None: left as it is), so every system gets the same cores."""
    env = dict(os.environ)
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    return env


def run_measured(
    command: Sequence[str],
    log: Path,
    env: Optional[Mapping[str, str]] = None,
    stop: Optional[Callable[[], bool]] = None,
    poll_s: float = 0.5,
) -> Measured:
    """Run a command, its output going to ``log``, and measure it.

    The peak memory comes from ``os.wait4``: the rusage of exactly this child (with
    the children it waited for), the per-child figure that ``RUSAGE_CHILDREN`` would
    only give as a maximum over all children so far.

    stop (Optional[Callable[[], bool]]): Asked every ``poll_s`` seconds while the child
        runs; once it returns True the child is terminated (SIGTERM) and the result is
        ``stopped``. None: run to completion.
    RETURNS (Measured): Exit status, wall time, peak memory and the log's path.
    """
    command = [str(part) for part in command]
    log.parent.mkdir(parents=True, exist_ok=True)
    stopped = False
    peak: Optional[float] = None
    with log.open("w", encoding="utf8") as out:
        out.write(f"$ {shlex.join(command)}\n")
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        while True:
            if hasattr(os, "wait4"):
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG if stop else 0)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    peak = maxrss_mb(usage.ru_maxrss)
                    break
            elif proc.poll() is not None or stop is None:  # Windows: no per-child rusage
                proc.wait()
                break
            if not stopped and stop():
                proc.terminate()
                stopped = True
            time.sleep(poll_s)
        wall = time.perf_counter() - start
    return Measured(command, proc.returncode, wall, peak, log, stopped)


def logged_steps(text: str) -> List[int]:
    """The steps of the dev evaluations that spaCy's ConsoleLogger printed, in order."""
    return [int(step) for step in EVAL_ROW_RE.findall(text)]


class TimeBudget:
    """A ``stop`` for ``run_measured(spacy train ...)``: true at the first dev
    evaluation logged after ``seconds`` of training.

    spaCy writes model-best / model-last before it logs an evaluation's row, so a run
    ended right after a row keeps a complete model-best. Every system then trains for
    at least the budget and stops on a checkpoint, which is how a step budget ends too.
    """

    def __init__(self, log: Path, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"Expected a time budget > 0 seconds, got {seconds!r}.")
        self.log = log
        self.deadline = time.monotonic() + seconds
        self.rows_at_deadline: Optional[int] = None

    def rows(self) -> int:
        if not self.log.exists():
            return 0
        return len(logged_steps(self.log.read_text(encoding="utf8", errors="replace")))

    def __call__(self) -> bool:
        if time.monotonic() < self.deadline:
            return False
        if self.rows_at_deadline is None:
            self.rows_at_deadline = self.rows()
            return False
        return self.rows() > self.rows_at_deadline


def spacy_command(*args: Any) -> List[str]:
    """``python -m spacy ARGS`` with this interpreter."""
    return [sys.executable, "-m", "spacy", *(str(a) for a in args)]


def format_override(value: Any) -> str:
    """A value as spaCy's CLI overrides read it (``true``, ``null``, 0.5, a path)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def override_args(overrides: Mapping[str, Any]) -> List[str]:
    """``{"training.max_steps": 100}`` -> ``["--training.max_steps", "100"]``."""
    args: List[str] = []
    for key, value in overrides.items():
        args += [f"--{key}", format_override(value)]
    return args


def trained_model(output_dir: Path) -> Path:
    """The pipeline `spacy train` saved in ``output_dir``: model-best, else model-last."""
    for name in ("model-best", "model-last"):
        if (output_dir / name / "config.cfg").exists():
            return output_dir / name
    raise FileNotFoundError(
        f"Expected a trained pipeline (model-best or model-last) in {output_dir}, found none. "
        "See the training log next to it."
    )


def train_and_score(
    record: Dict[str, Any],
    config: Path,
    run_dir: Path,
    overrides: Mapping[str, Any],
    test_path: Path,
    gpu_id: int,
    env: Optional[Mapping[str, str]],
    time_budget_s: Optional[float] = None,
) -> Optional[Path]:
    """`spacy train` then `spacy benchmark accuracy` on the test split, measured. Fills
    record["train"], ["model"], ["scores"] and ["evaluate"], or record["error"].

    time_budget_s (Optional[float]): Stop training at the first dev evaluation after
        this many seconds (see ``TimeBudget``); the step budget in ``overrides`` still
        applies. None: the step budget alone.
    RETURNS (Optional[Path]): The scored model, or None when a step failed.
    """
    train_log = run_dir / "train.log"
    trained = run_measured(
        spacy_command("train", config, "--output", run_dir, "--gpu-id", gpu_id, *override_args(overrides)),
        train_log,
        env,
        stop=TimeBudget(train_log, time_budget_s) if time_budget_s else None,
    )
    steps = logged_steps(trained.output())
    record["train"] = {
        "wall_s": trained.wall_s,
        "peak_rss_mb": trained.peak_rss_mb,
        "log": str(trained.log),
        "last_evaluated_step": steps[-1] if steps else None,
        "stopped_by_time_budget": trained.stopped,
    }
    if not trained.ok:
        record["error"] = trained.error("spacy train")
        return None
    model = trained_model(run_dir)
    record["model"] = str(model)
    scored = run_measured(
        spacy_command("benchmark", "accuracy", model, test_path, "--output", run_dir / "accuracy.json",
                      "--gpu-id", gpu_id),
        run_dir / "accuracy.log",
        env,
    )
    if not scored.ok:
        record["error"] = scored.error("spacy benchmark accuracy")
        return None
    record["scores"] = json.loads((run_dir / "accuracy.json").read_text(encoding="utf8"))
    record["evaluate"] = {"wall_s": scored.wall_s, "peak_rss_mb": scored.peak_rss_mb}
    return model


def parse_words_per_second(text: str) -> Dict[str, float]:
    """Read the result of `spacy benchmark speed` from its output.

    text (str): What the command printed; it ends with
        ``Mean: 1701.1 words/s (95% CI: -438.3 +470.8)``.
    RETURNS (Dict[str, float]): ``words_per_s`` and the bootstrap 95% interval
        ``ci95_low``, ``ci95_high`` (absolute words/s).
    """
    found = SPEED_RE.findall(text)
    if not found:
        last = text.strip().splitlines()[-1:] or ["(nothing)"]
        raise ValueError(
            "Expected a line 'Mean: X words/s (95% CI: -A +B)' from `spacy benchmark speed`, "
            f"got none; its last line was {last[0]!r}. Check that the command succeeded."
        )
    mean, low, high = (float(x) for x in found[-1])
    return {"words_per_s": mean, "ci95_low": mean + low, "ci95_high": mean + high}


def machine() -> Dict[str, Any]:
    """Where the runs happened, for the record."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


# -- what to run ----------------------------------------------------------------------


def corpus_files(corpus_dir: Path) -> Dict[str, Path]:
    """The train/dev/test files of a converted corpus.

    RETURNS (Dict[str, Path]): ``{"train": .../train.spacy, "dev": ..., "test": ...}``.
    """
    files = {split: corpus_dir / f"{split}.spacy" for split in SPLITS}
    missing = [str(path) for path in files.values() if not path.exists()]
    if missing:
        raise SystemExit(
            f"Expected train.spacy, dev.spacy and test.spacy in {corpus_dir}, missing {missing}. "
            "Convert a corpus first (`weasel run convert`), or put your own three .spacy "
            "files there."
        )
    return files


def parse_seeds(text: str) -> List[int]:
    """ "0,1,2" -> [0, 1, 2]."""
    try:
        seeds = [int(part) for part in str(text).replace(" ", "").split(",") if part]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise SystemExit(f"Expected seeds as distinct integers separated by commas (e.g. 0,1,2), got {text!r}.")
    return seeds


def parse_names(text: str, allowed: Sequence[str], what: str) -> List[str]:
    """ "a,b" -> ["a", "b"], each checked against ``allowed``."""
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    unknown = [name for name in names if name not in allowed]
    if not names or unknown:
        raise SystemExit(f"Expected {what} from {list(allowed)} separated by commas, got {text!r}.")
    return names


def detect_tasks(train_path: Path, limit: int = 500) -> List[str]:
    """The tasks a corpus is annotated for: ``tagger`` when tokens have tags, ``ner``
    when documents have entities (looking at the first ``limit`` documents)."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    has_tags = has_ents = False
    for i, doc in enumerate(DocBin().from_disk(train_path).get_docs(Vocab())):
        has_tags = has_tags or any(token.tag_ for token in doc)
        has_ents = has_ents or bool(doc.ents)
        if i + 1 >= limit or (has_tags and has_ents):
            break
    tasks = [task for task, present in (("tagger", has_tags), ("ner", has_ents)) if present]
    if not tasks:
        raise SystemExit(
            f"Expected tags or entities in {train_path}, found neither in its first {limit} "
            "documents. Give the tasks explicitly (e.g. --tasks ner) or check the corpus."
        )
    return tasks


def resolve_tasks(spec: str, corpus: str, train_path: Path) -> List[str]:
    """The tasks of a run: ``auto`` (by corpus name: ewt -> tagger, conll -> ner; any
    other corpus: what its training data is annotated for) or a list like
    ``tagger,ner``."""
    if str(spec) == "auto":
        if corpus in KNOWN_CORPUS_TASKS:
            return list(KNOWN_CORPUS_TASKS[corpus])
        return detect_tasks(train_path)
    return parse_names(spec, TASKS, "tasks")


def digest(*texts: str) -> str:
    """A short hash of some text (a config), to tell whether a saved run still fits."""
    h = hashlib.sha1()
    for text in texts:
        h.update(text.encode("utf8"))
    return h.hexdigest()[:12]


def reusable_record(path: Path, settings: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """A saved run (``--resume``) when it succeeded with exactly these settings."""
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf8"))
    if record.get("error") or record.get("settings") != dict(settings):
        return None
    return record


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf8")


def log(message: str) -> None:
    print(message, flush=True)


# -- summaries ----------------------------------------------------------------------


def mean_sd(values: Iterable[Optional[float]]) -> Tuple[Optional[float], Optional[float], int]:
    """Mean and sample standard deviation of the values that are not None.

    RETURNS (Tuple[Optional[float], Optional[float], int]): mean (None without
        values), sd (None with fewer than two), and how many values there were.
    """
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None, None, 0
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else None), len(xs)


def format_mean_sd(values: Iterable[Optional[float]], scale: float = 1.0, digits: int = 2) -> str:
    """``"93.31 ± 0.12"`` over the values (times ``scale``); one value alone without
    ``±``; ``"–"`` without values."""
    mean, sd, n = mean_sd(values)
    if mean is None:
        return "–"
    text = f"{mean * scale:,.{digits}f}"
    if sd is not None:
        text += f" ± {sd * scale:,.{digits}f}"
    return text


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric_from: int = 1) -> str:
    """A GitHub markdown table; columns from ``numeric_from`` on are right-aligned."""
    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"Expected {len(header)} cells per row ({list(header)}), got rows of {[len(r) for r in rows]}.")
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """``get_path(r, "speed.words_per_s")``: a nested value, None where missing."""
    value: Any = record
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def group_runs(records: Iterable[Mapping[str, Any]], *keys: str) -> Dict[Tuple[Any, ...], List[Mapping[str, Any]]]:
    """Records grouped by the values of ``keys``, in first-seen order."""
    groups: Dict[Tuple[Any, ...], List[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault(tuple(record.get(k) for k in keys), []).append(record)
    return groups


def failures(records: Iterable[Mapping[str, Any]], describe) -> List[str]:
    """Markdown bullet lines, one per failed run: ``describe(record)`` and its error."""
    return [f"- {describe(r)}: {r['error']}" for r in records if r.get("error")]


def add_common_args(ap: argparse.ArgumentParser, configs_dir: Path) -> None:
    """The arguments `compare.py` and `ablation.py` share: corpus, output folders,
    budget, seeds, vectors and processes."""
    ap.add_argument("corpus_dir", type=Path, help="folder with train.spacy, dev.spacy, test.spacy")
    ap.add_argument("output_dir", type=Path, help="where the results go (e.g. metrics/compare/sample)")
    ap.add_argument("training_dir", type=Path, help="where configs, models and logs go")
    ap.add_argument("--corpus", default=None, help="corpus name (default: the folder's name); ewt and conll pick the task")
    ap.add_argument("--tasks", default="auto", help="auto, or from tagger,ner")
    ap.add_argument("--seeds", default="0", help="e.g. 0,1,2")
    ap.add_argument("--max-steps", type=int, default=100)
    ap.add_argument("--eval-frequency", type=int, default=50)
    ap.add_argument(
        "--max-minutes", type=float, default=0.0,
        help="time budget: stop each training at its first dev evaluation after this many minutes "
        "(0: none; --max-steps still applies)",
    )
    ap.add_argument("--vectors", default="null", help="a spaCy pipeline with vectors, or null")
    ap.add_argument("--gpu-id", type=int, default=-1)
    ap.add_argument("--threads", type=int, default=1, help="OMP/MKL/OpenBLAS/torch threads per process (0: leave as is)")
    ap.add_argument("--lang", default="en")
    ap.add_argument("--configs-dir", type=Path, default=configs_dir, help="holds our tagger.cfg and ner.cfg")
    ap.add_argument("--resume", type=parse_bool, nargs="?", const=True, default=False,
                    help="reuse saved runs that succeeded with the same settings (`--resume` or `--resume true`)")


def parse_bool(text: str) -> bool:
    """A command-line boolean: true/false, yes/no, 1/0 (any case)."""
    value = text.strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def budget_text(settings: Mapping[str, Any]) -> str:
    """How long every run trained, for the reports: ``3000 steps``, or with a time budget
    ``at most 3000 steps or until its first dev evaluation after 60 min``."""
    minutes = settings.get("max_minutes") or 0
    if not minutes:
        return f"{settings['max_steps']} steps"
    return f"at most {settings['max_steps']} steps or until its first dev evaluation after {minutes:g} min"


def time_budget_s(args: argparse.Namespace) -> Optional[float]:
    """``--max-minutes`` in seconds, None when there is no time budget."""
    return args.max_minutes * 60.0 if args.max_minutes else None


def check_common_args(args: argparse.Namespace) -> Optional[str]:
    """Fill in the corpus name and vectors (None for "null") in place.

    RETURNS (Optional[str]): What is wrong with the arguments, or None.
    """
    args.corpus = args.corpus or args.corpus_dir.name
    args.vectors = None if args.vectors in ("null", "None", "") else args.vectors
    if args.max_steps < 1 or args.eval_frequency < 1:
        return "Expected --max-steps and --eval-frequency >= 1."
    if not args.max_minutes >= 0:
        return f"Expected --max-minutes >= 0 (0: no time budget), got {args.max_minutes}."
    if args.vectors and not Path(args.vectors).exists():
        return (
            f"Expected --vectors to be a spaCy pipeline folder or null, got {args.vectors!r}, which "
            "does not exist. Make GloVe vectors with `weasel run vectors`."
        )
    return None
