"""The output folder: atomic parts, a manifest that guards resumption, and a collector
that turns rows arriving in any order, with repeats, into exactly one row per input."""
import json
import os

import pytest

from spacy_crf_tagger.annotate.parts import MANIFEST, OutputDir, PartCollector, part_name, read_output
from spacy_crf_tagger.annotate.records import SCHEMA_VERSION, records_to_table


def job(rows=10, part_size=4, model="m"):
    return {"schema": SCHEMA_VERSION, "input": {"rows": rows}, "model": model, "part_size": part_size, "rows": rows}


def rows(*indices):
    return records_to_table(
        {"row": i, "id": str(i), "text": f"t{i}", "entities": [], "tokens": []} for i in indices
    )


def test_collector_writes_each_part_once_whatever_the_order_and_repeats(tmp_path):
    out = OutputDir(tmp_path / "out")
    assert out.prepare(job()) == set()
    collector = PartCollector(out, rows=10, part_size=4, pending={0, 1, 2})
    assert collector.add(rows(9, 1, 0, 8)) == [2]  # part 2 holds rows 8-9
    assert collector.add(rows(0, 2, 4, 5)) == []  # 0 again: dropped
    assert collector.add(rows(3, 6, 7, 9)) == [0, 1]  # 9 again, part 2 already written
    collector.close()
    out.finish({"rows_written": 10})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MANIFEST] + [part_name(i) for i in range(3)]
    table = read_output(tmp_path / "out")
    assert table.column("row").to_pylist() == list(range(10))


def test_incomplete_parts_are_not_written_and_the_error_says_to_rerun(tmp_path):
    out = OutputDir(tmp_path)
    out.prepare(job())
    collector = PartCollector(out, rows=10, part_size=4, pending={0, 1, 2})
    collector.add(rows(0, 1, 2, 3, 4))
    message = r"2 part\(s\) are incomplete \(part: rows received \{1: 1, 2: 0\}\).*re-run the same command"
    with pytest.raises(RuntimeError, match=message):
        collector.close()
    assert not (tmp_path / part_name(1)).exists()


def test_prepare_finds_finished_parts_and_drops_temporary_files(tmp_path):
    out = OutputDir(tmp_path)
    out.prepare(job())
    out.write_part(0, rows(0, 1, 2, 3))
    out.write_part(1, rows(4, 5))  # wrong row count: not finished
    (tmp_path / ".part-00002.parquet.tmp").write_text("half written")
    assert out.prepare(job()) == {0}
    assert not (tmp_path / ".part-00002.parquet.tmp").exists()
    assert json.loads((tmp_path / MANIFEST).read_text())["complete"] is False


def test_scratch_files_of_a_killed_run_are_cleared(tmp_path):
    out = OutputDir(tmp_path)
    (tmp_path / ".scratch" / "spool-x").mkdir(parents=True)
    (tmp_path / ".lock").write_text("123")
    assert out.prepare(job()) == set()  # .lock and .scratch alone: still a new folder
    assert not out.scratch.exists()


def test_a_folder_of_another_job_is_not_resumed(tmp_path):
    OutputDir(tmp_path).prepare(job(part_size=4))
    message = r"holds the output of a different job.*its 'part_size' is 4, this run's is 5\. Re-run with the original"
    with pytest.raises(ValueError, match=message + " settings, or write to a new folder"):
        OutputDir(tmp_path).prepare(job(part_size=5))
    with pytest.raises(ValueError, match=r"its 'model' is 'm', this run's is 'other'"):
        OutputDir(tmp_path).prepare(job(model="other"))


def test_a_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("")
    message = r"Expected a new or empty output folder, got .* which holds files but no _manifest.json"
    with pytest.raises(ValueError, match=message):
        OutputDir(tmp_path).prepare(job())


def test_read_output_wants_a_finished_folder(tmp_path):
    message = r"Expected a finished output folder, got .*, which has no manifest\. Run \(or re-run\)"
    with pytest.raises(ValueError, match=message):
        read_output(tmp_path)
    OutputDir(tmp_path).prepare(job())
    with pytest.raises(ValueError, match=r"which is not complete"):
        read_output(tmp_path)


def test_two_runs_cannot_write_to_one_folder(tmp_path):
    out = OutputDir(tmp_path / "out")
    with out.locked():
        message = rf"Expected no other run writing to .*out, got one \(process {os.getpid()}\)\. Wait for it"
        with pytest.raises(ValueError, match=message):
            with OutputDir(tmp_path / "out").locked():
                pass
    with OutputDir(tmp_path / "out").locked():  # released
        pass
