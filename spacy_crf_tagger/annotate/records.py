"""One output row per document: what the pipeline found, in a stable Arrow schema.

Every row holds

- ``row`` (int64): the document's row index in the input (0-based, across files);
- ``id`` (string): the input's id field, or the row index where there is none;
- ``text`` (string): the text;
- ``entities`` (list of struct): ``doc.ents``, each with ``text``, ``label``,
  ``start_char``/``end_char`` (character offsets, end exclusive), ``start``/``end``
  (token offsets, end exclusive) and ``confidence``: the entity's probability from
  ``crf_ner``'s span group (``attrs["scores"]``), or null for entities that no
  ``crf_ner`` scored;
- ``tokens`` (list of struct): ``text``, ``start_char``, ``tag`` (``token.tag_``)
  and ``pos`` (``token.pos_``); null where the pipeline sets none.

Any spaCy pipeline works; confidences need a ``crf_ner`` component.
"""
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc

if TYPE_CHECKING:
    import pyarrow

SCHEMA_VERSION = "spacy-crf-tagger.annotate.v1"
PYARROW_MISSING = (
    'Annotating a corpus reads and writes Parquet with pyarrow, which is not installed. '
    'Install it with: pip install "spacy-crf-tagger[annotate]" (or "spacy-crf-tagger[ray]", '
    "which includes it)."
)

Record = Dict[str, Any]


def require_pyarrow() -> Any:
    """RETURNS (module): ``pyarrow``, or an ImportError saying what to install."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError as err:
        raise ImportError(PYARROW_MISSING) from err
    return pyarrow


def output_schema() -> "pyarrow.Schema":
    """RETURNS (pyarrow.Schema): The schema of every output part."""
    pa = require_pyarrow()
    entity = pa.struct(
        [
            ("text", pa.string()),
            ("label", pa.string()),
            ("start_char", pa.int64()),
            ("end_char", pa.int64()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("confidence", pa.float32()),
        ]
    )
    token = pa.struct(
        [("text", pa.string()), ("start_char", pa.int64()), ("tag", pa.string()), ("pos", pa.string())]
    )
    return pa.schema(
        [
            pa.field("row", pa.int64(), nullable=False),
            pa.field("id", pa.string(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("entities", pa.list_(entity), nullable=False),
            pa.field("tokens", pa.list_(token), nullable=False),
        ],
        metadata={"schema": SCHEMA_VERSION},
    )


def confidence_keys(nlp: Language) -> List[str]:
    """The span groups that hold entity probabilities: ``spans_key`` of every
    ``crf_ner`` component in the pipeline that keeps one (confidence is then null).

    nlp (Language): The pipeline.
    RETURNS (List[str]): Span group keys, in pipeline order.
    """
    from ..pipeline.ner import CRFEntityRecognizer

    return [
        pipe.cfg["spans_key"]
        for _, pipe in nlp.pipeline
        if isinstance(pipe, CRFEntityRecognizer) and pipe.cfg["spans_key"] is not None
    ]


def doc_to_record(doc: Doc, row: int, doc_id: Optional[str], keys: Sequence[str] = ("crf_ner",)) -> Record:
    """Convert an annotated Doc to an output row (see the module docstring).

    doc (Doc): The annotated document.
    row (int): Its row index in the input.
    doc_id (Optional[str]): Its id; None uses ``str(row)``.
    keys (Sequence[str]): Span groups to take entity confidences from.
    RETURNS (Dict[str, Any]): The row.
    """
    scores = _entity_scores(doc, keys)
    entities = [
        {
            "text": ent.text,
            "label": ent.label_,
            "start_char": ent.start_char,
            "end_char": ent.end_char,
            "start": ent.start,
            "end": ent.end,
            "confidence": scores.get((ent.start, ent.end, ent.label_)),
        }
        for ent in doc.ents
    ]
    tokens = [
        {"text": token.text, "start_char": token.idx, "tag": token.tag_ or None, "pos": token.pos_ or None}
        for token in doc
    ]
    return {
        "row": row,
        "id": str(row) if doc_id is None else doc_id,
        "text": doc.text,
        "entities": entities,
        "tokens": tokens,
    }


def records_to_table(records: Iterable[Record]) -> "pyarrow.Table":
    """RETURNS (pyarrow.Table): The rows as a table in the output schema."""
    pa = require_pyarrow()
    return pa.Table.from_pylist(list(records), schema=output_schema())


def _entity_scores(doc: Doc, keys: Sequence[str]) -> Dict[Tuple[int, int, str], float]:
    """(start, end, label) -> probability, from the span groups that have scores."""
    scores: Dict[Tuple[int, int, str], float] = {}
    for key in keys:
        group = doc.spans[key] if key in doc.spans else None
        if group is None or "scores" not in group.attrs:
            continue
        for span, score in zip(group, group.attrs["scores"]):
            scores.setdefault((span.start, span.end, span.label_), float(score))
    return scores
