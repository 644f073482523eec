"""Reading JSONL / Parquet input into fixed-size parts, and the errors that say what is wrong."""
import gzip
import json

import pytest

from spacy_crf_tagger.annotate.io import count_parts, iter_parts, open_input, part_rows

from .util import write_jsonl, write_parquet

TEXTS = [f"text number {i}" for i in range(23)]


def rows_of(source, part_size=5, skip=frozenset()):
    return [(p.index, r, i, t) for p in iter_parts(source, part_size, skip) for r, i, t in zip(p.rows, p.ids, p.texts)]


@pytest.mark.parametrize("write", [write_jsonl, write_parquet])
def test_jsonl_and_parquet_give_the_same_rows_and_parts(tmp_path, write):
    path = write(tmp_path / ("in.jsonl" if write is write_jsonl else "in.parquet"), TEXTS)
    source = open_input(path)
    assert source.rows == 23
    rows = rows_of(source)
    assert rows == [(i // 5, i, f"doc-{i}", TEXTS[i]) for i in range(23)]
    assert [len(p) for p in iter_parts(source, 5)] == [5, 5, 5, 5, 3]
    assert count_parts(23, 5) == 5 and part_rows(4, 23, 5) == 3 and part_rows(5, 23, 5) == 0
    first = next(iter_parts(source, 5))
    assert [t.column("row").to_pylist() for t in first.to_tables(2)] == [[0, 1], [2, 3], [4]]
    assert first.to_table().column_names == ["row", "id", "text"]


def test_skipped_parts_are_not_read(tmp_path):
    source = open_input(write_parquet(tmp_path / "in.parquet", TEXTS))
    assert [p.index for p in iter_parts(source, 5, skip={0, 2, 4})] == [1, 3]
    assert rows_of(source, 5, {0, 1, 2, 3})[0][:2] == (4, 20)


def test_a_folder_is_read_in_name_order_with_rows_numbered_across_files(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_parquet(folder / "b.parquet", TEXTS[10:], ids=False)
    with gzip.open(folder / "a.jsonl.gz", "wt", encoding="utf8") as f:
        for text in TEXTS[:10]:
            f.write(json.dumps({"text": text}) + "\n\n")  # blank lines are skipped
    (folder / "_SUCCESS").write_text("")
    (folder / "notes.txt").write_text("not input")
    source = open_input(folder)
    assert [f.path.name for f in source.files] == ["a.jsonl.gz", "b.parquet"]
    assert rows_of(source, 7) == [(i // 7, i, None, TEXTS[i]) for i in range(23)]


def test_ids_fall_back_to_none_where_missing_and_are_strings(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "a", "id": 17}\n{"text": "b"}\n{"text": "c", "id": null}\n')
    assert [r[2] for r in rows_of(open_input(path))] == ["17", None, None]
    source = open_input(path, id_field="doc")
    assert source.fingerprint()["id_field"] == "doc"


def test_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Input not found: .*nope.jsonl\. Expected a JSONL file"):
        open_input(tmp_path / "nope.jsonl")


def test_unsupported_format(tmp_path):
    (tmp_path / "in.csv").write_text("text\nhello\n")
    with pytest.raises(ValueError, match=r"Expected a JSONL file .* got 'in.csv'\. Convert it to JSONL or Parquet"):
        open_input(tmp_path / "in.csv")


def test_folder_without_input_files(tmp_path):
    (tmp_path / "readme.txt").write_text("")
    with pytest.raises(ValueError, match=r"got the folder .* with no such files \(it holds \['readme.txt'\]\)"):
        open_input(tmp_path)


def test_parquet_without_the_text_column(tmp_path):
    path = write_parquet(tmp_path / "in.parquet", TEXTS)
    message = r"expected a column 'body' holding the texts, got the columns \['text', 'id'\]\. Pass the right one with"
    with pytest.raises(ValueError, match=message + " --text-field"):
        open_input(path, text_field="body")


def test_parquet_null_text_names_the_row(tmp_path):
    import pyarrow
    import pyarrow.parquet

    path = tmp_path / "in.parquet"
    pyarrow.parquet.write_table(pyarrow.table({"text": ["fine", None]}), path)
    message = r"in.parquet, row 1: expected a string in 'text', got NoneType 'None'\. Fix or drop that row"
    with pytest.raises(ValueError, match=message):
        rows_of(open_input(path))


def test_broken_parquet(tmp_path):
    (tmp_path / "in.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match=r"Expected a Parquet file, could not read .*in.parquet"):
        open_input(tmp_path / "in.parquet")


@pytest.mark.parametrize(
    "line,message",
    [
        (
            '{"body": "x"}',
            r"line 2: expected a field 'text' holding the text, got the fields \['body'\]\. Pass the right one",
        ),
        ('{"text": 3}', r"line 2: expected a string in 'text', got int '3'"),
        ('{"text": "x"', r"line 2: expected one JSON object per line, got '\{\"text\": \"x\"'"),
        ('["x"]', r"line 2: expected a JSON object, got list"),
    ],
)
def test_bad_jsonl_lines_are_named(tmp_path, line, message):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "ok"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message):
        rows_of(open_input(path))
