"""``python -m spacy debug crf-data CONFIG``: ``spacy debug data`` for our components.

spaCy's own ``debug data`` checks tagger and NER data only for the ``tagger`` and
``ner`` factories. This command reads the corpora exactly as ``spacy train`` does
(same config, same overrides) and checks them for every ``crf_tagger`` and
``crf_ner`` in the pipeline. It exits with status 1 when it finds errors.
"""
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer
from spacy import util
from spacy.cli._util import Arg, Opt, debug_cli, import_code, parse_config_overrides, show_validation_error
from spacy.schemas import ConfigSchemaTraining
from spacy.util import registry, resolve_dot_names
from wasabi import Printer

from ..data_checks import LONG_DOC_TOKENS, LOW_COUNT, DataReport, check_component
from ..pipeline.base import CRFPipe


@debug_cli.command(
    "crf-data", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def debug_crf_data_cli(
    # fmt: off
    ctx: typer.Context,
    config_path: Path = Arg(..., help="Path to the training config", exists=True, allow_dash=True),
    code_path: Optional[Path] = Opt(None, "--code", "-c", help="Python file with additional registered functions"),
    long_doc_tokens: int = Opt(LONG_DOC_TOKENS, "--long-doc-tokens", help="Warn about docs longer than this"),
    low_count: int = Opt(LOW_COUNT, "--low-count", help="Warn about labels with fewer training examples"),
    # fmt: on
):
    """Check the training and dev data of the crf_tagger / crf_ner components of a
    training config: label counts, labels only in dev, missing annotation, gold
    that cannot be used, very long documents. Exits with 1 on errors."""
    import_code(code_path)
    overrides = parse_config_overrides(ctx.args)
    reports = debug_crf_data(config_path, overrides, long_doc_tokens=long_doc_tokens, low_count=low_count)
    if any(report.errors for report in reports):
        raise SystemExit(1)


def debug_crf_data(
    config_path: Path,
    overrides: Dict[str, Any],
    *,
    long_doc_tokens: int = LONG_DOC_TOKENS,
    low_count: int = LOW_COUNT,
    printer: Optional[Printer] = None,
) -> List[DataReport]:
    """Load the config as ``spacy train`` does, check every CRF component and print
    the reports. RETURNS (List[DataReport]): One report per component."""
    msg = printer or Printer()
    with show_validation_error(config_path):
        config = util.load_config(config_path, overrides=overrides)
        nlp = util.load_model_from_config(config)
        T = registry.resolve(nlp.config.interpolate()["training"], schema=ConfigSchemaTraining)
        train_corpus, dev_corpus = resolve_dot_names(
            nlp.config.interpolate(), [T["train_corpus"], T["dev_corpus"]]
        )
    train = list(train_corpus(nlp))
    dev = list(dev_corpus(nlp))
    pipes = [(name, pipe) for name, pipe in nlp.pipeline if isinstance(pipe, CRFPipe)]
    if not pipes:
        msg.warn(f"No crf_tagger or crf_ner component in the pipeline {nlp.pipe_names}: nothing to check.")
    reports = []
    for name, pipe in pipes:
        report = check_component(pipe, train, dev, long_doc_tokens=long_doc_tokens, low_count=low_count)
        _show(msg, report)
        reports.append(report)
    n_err = sum(len(r.errors) for r in reports)
    n_warn = sum(len(r.warnings) for r in reports)
    msg.divider("Summary")
    if n_err:
        msg.fail(f"{n_err} error(s), {n_warn} warning(s)")
    else:
        msg.good(f"No errors, {n_warn} warning(s)")
    return reports


def _show(msg: Printer, report: DataReport) -> None:
    msg.divider(f"Component '{report.component}'")
    for key, value in report.stats.items():
        msg.text(f"{key}: {value}")
    if report.train_labels:
        rows = [
            (label, report.train_labels[label], report.dev_labels.get(label, 0))
            for label in sorted(report.train_labels, key=lambda x: -report.train_labels[x])
        ]
        msg.table(rows, header=("label", "train", "dev"), divider=True)
    for warning in report.warnings:
        msg.warn(warning)
    for error in report.errors:
        msg.fail(error)
    if not report.warnings and not report.errors:
        msg.good("No problems found")
