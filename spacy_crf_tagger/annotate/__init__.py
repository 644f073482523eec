"""Annotate large corpora with a spaCy pipeline: JSONL/Parquet in, resumable
Parquet parts out, on one machine (``nlp.pipe``) or on a Ray cluster (Ray Data).

    from spacy_crf_tagger.annotate import AnnotateSettings, annotate, read_output

    annotate("training/sample-both/model-best", "texts.jsonl", "annotated/",
             engine="ray", settings=AnnotateSettings(workers=4))
    table = read_output("annotated/")

The command line is ``python -m spacy crf-annotate MODEL INPUT OUTPUT``.
"""
from .job import AnnotateSummary, annotate
from .parts import read_output
from .records import SCHEMA_VERSION, doc_to_record, output_schema
from .settings import AnnotateSettings

__all__ = [
    "annotate",
    "AnnotateSettings",
    "AnnotateSummary",
    "read_output",
    "doc_to_record",
    "output_schema",
    "SCHEMA_VERSION",
]
