"""Reading the input corpus row by row and cutting it into fixed-size parts.

The input is a JSONL file (one JSON object per line; blank lines are skipped;
``.gz`` is read compressed), a Parquet file, or a folder of such files read in
name order. Rows are numbered from 0 across all files; part ``k`` holds rows
``k * part_size`` to ``(k + 1) * part_size - 1``, so the same input always gives the
same parts, which is what lets an interrupted job resume.
"""
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

from .records import require_pyarrow

if TYPE_CHECKING:
    import pyarrow

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
FORMATS_HELP = (
    "a JSONL file (.jsonl, one {\"text\": ...} object per line), a Parquet file (.parquet), "
    "or a folder of them"
)
RowT = Tuple[int, Optional[str], str]  # row index, id (None: none given), text


@dataclass(frozen=True)
class InputFile:
    """One input file: where it is, its format ("jsonl" or "parquet"), its size."""

    path: Path
    kind: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class InputSource:
    """The files of an input corpus and the fields to read from them."""

    path: Path
    files: Tuple[InputFile, ...]
    text_field: str
    id_field: str

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def fingerprint(self) -> Dict[str, Any]:
        """What must not change between a run and its resumption."""
        return {
            "path": str(self.path.resolve()),
            "files": [{"name": f.path.name, "rows": f.rows, "bytes": f.bytes} for f in self.files],
            "rows": self.rows,
            "text_field": self.text_field,
            "id_field": self.id_field,
        }


@dataclass
class InputPart:
    """The rows of one part that is still to be annotated."""

    index: int
    rows: List[int] = field(default_factory=list)
    ids: List[Optional[str]] = field(default_factory=list)
    texts: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def to_table(self, start: int = 0, stop: Optional[int] = None) -> "pyarrow.Table":
        """RETURNS (pyarrow.Table): Columns ``row``, ``id``, ``text`` of rows
        ``start`` to ``stop`` (all by default), in buffers of their own."""
        pa = require_pyarrow()
        return pa.table(
            {
                "row": pa.array(self.rows[start:stop], pa.int64()),
                "id": pa.array(self.ids[start:stop], pa.string()),
                "text": pa.array(self.texts[start:stop], pa.string()),
            }
        )

    def to_tables(self, size: int) -> Iterator["pyarrow.Table"]:
        """YIELDS (pyarrow.Table): The part in tables of up to ``size`` rows."""
        for start in range(0, len(self), size):
            yield self.to_table(start, start + size)


def count_parts(rows: int, part_size: int) -> int:
    """RETURNS (int): How many parts ``rows`` input rows make."""
    return (rows + part_size - 1) // part_size


def part_rows(index: int, rows: int, part_size: int) -> int:
    """RETURNS (int): How many rows part ``index`` holds (the last may be short)."""
    return max(0, min(part_size, rows - index * part_size))


def open_input(path: Union[str, Path], text_field: str = "text", id_field: str = "id") -> InputSource:
    """Find the input files, check their format and count their rows.

    path (Union[str, Path]): A JSONL or Parquet file, or a folder of them.
    text_field (str): The field holding the text.
    id_field (str): The field holding the document id (optional in the data).
    RETURNS (InputSource): The files, in reading order.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Input not found: {path}. Expected {FORMATS_HELP}.")
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
        paths = [p for p in candidates if _kind(p) is not None]
        if not paths:
            found = [p.name for p in candidates[:5]]
            raise ValueError(
                f"Expected {FORMATS_HELP}, got the folder {path} with no such files "
                f"(it holds {found or 'nothing'})."
            )
    else:
        if _kind(path) is None:
            raise ValueError(
                f"Expected {FORMATS_HELP}, got {path.name!r}. Convert it to JSONL or Parquet "
                "with a text column first."
            )
        paths = [path]
    files = tuple(_open_file(p, text_field) for p in paths)
    return InputSource(path=path, files=files, text_field=text_field, id_field=id_field)


def iter_parts(source: InputSource, part_size: int, skip: Set[int] = frozenset()) -> Iterator[InputPart]:
    """Read the parts not in ``skip``, in order, one at a time.

    source (InputSource): The input.
    part_size (int): Rows per part.
    skip (Set[int]): Indices of parts already done; their rows are not parsed.
    YIELDS (InputPart): Each remaining part, complete.
    """
    current: Optional[InputPart] = None
    for row, doc_id, text in _iter_rows(source, lambda row: row // part_size not in skip):
        index = row // part_size
        if current is not None and current.index != index:
            yield current
            current = None
        if current is None:
            current = InputPart(index)
        current.rows.append(row)
        current.ids.append(doc_id)
        current.texts.append(text)
    if current is not None:
        yield current


def _kind(path: Path) -> Optional[str]:
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _open_file(path: Path, text_field: str) -> InputFile:
    kind = _kind(path)
    assert kind is not None
    if kind == "parquet":
        pq = require_pyarrow().parquet
        try:
            meta = pq.ParquetFile(path)
        except Exception as err:  # pyarrow raises several types for a broken file
            raise ValueError(f"Expected a Parquet file, could not read {path}: {err}") from err
        names = meta.schema_arrow.names
        if text_field not in names:
            raise ValueError(
                f"{path}: expected a column {text_field!r} holding the texts, got the columns "
                f"{names}. Pass the right one with --text-field."
            )
        rows = meta.metadata.num_rows
    else:
        with _open_text(path) as f:
            rows = sum(1 for line in f if line.strip())
    return InputFile(path=path, kind=kind, rows=rows, bytes=path.stat().st_size)


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf8")
    return open(path, encoding="utf8")


def _iter_rows(source: InputSource, wanted: Callable[[int], bool]) -> Iterator[RowT]:
    offset = 0
    for file in source.files:
        read = _iter_parquet if file.kind == "parquet" else _iter_jsonl
        yield from read(file, source.text_field, source.id_field, offset, wanted)
        offset += file.rows


def _iter_jsonl(
    file: InputFile, text_field: str, id_field: str, offset: int, wanted: Callable[[int], bool]
) -> Iterator[RowT]:
    row = offset
    with _open_text(file.path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row += 1
            if not wanted(row - 1):
                continue
            where = f"{file.path}, line {line_no}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"{where}: expected one JSON object per line, got {line.strip()[:60]!r} ({err})."
                ) from err
            if not isinstance(obj, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__} {line.strip()[:60]!r}.")
            if text_field not in obj:
                raise ValueError(
                    f"{where}: expected a field {text_field!r} holding the text, got the fields "
                    f"{sorted(obj)[:10]}. Pass the right one with --text-field."
                )
            yield row - 1, _id(obj.get(id_field)), _text(obj[text_field], text_field, where)


def _iter_parquet(
    file: InputFile, text_field: str, id_field: str, offset: int, wanted: Callable[[int], bool]
) -> Iterator[RowT]:
    pf = require_pyarrow().parquet.ParquetFile(file.path)
    columns = [text_field] + ([id_field] if id_field in pf.schema_arrow.names and id_field != text_field else [])
    start = offset
    for batch in pf.iter_batches(batch_size=8192, columns=columns):
        rows = range(start, start + batch.num_rows)
        start += batch.num_rows
        if not any(wanted(row) for row in rows):
            continue
        texts = batch.column(text_field).to_pylist()
        ids = batch.column(id_field).to_pylist() if id_field in columns else [None] * len(texts)
        for row, doc_id, text in zip(rows, ids, texts):
            if wanted(row):
                where = f"{file.path}, row {row - offset}"
                yield row, _id(doc_id), _text(text, text_field, where)


def _id(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def _text(value: Any, text_field: str, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(
            f"{where}: expected a string in {text_field!r}, got {type(value).__name__} "
            f"{str(value)[:60]!r}. Fix or drop that row."
        )
    return value
