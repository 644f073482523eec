"""Finding the pipeline, fingerprinting it, and shipping a folder as an archive."""
import tempfile

import pytest

from spacy_crf_tagger.annotate.loading import (
    COPY_PREFIX,
    load_packed,
    model_fingerprint,
    pack_folder,
    resolve_model,
)


def test_a_packed_folder_loads_and_leaves_no_copy(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    orphan = tmp_path / f"{COPY_PREFIX}999999999-abc"  # left by a process killed while loading
    orphan.mkdir()
    nlp = load_packed(pack_folder(resolve_model(model_dir)))
    assert nlp.pipe_names == ["crf_tagger", "crf_ner"]
    assert list(tmp_path.iterdir()) == []


def test_fingerprints_change_with_the_files(model_dir, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    before = model_fingerprint(resolve_model(copy))
    assert before["version"].startswith("sha256:") and before["name"] == str(copy.resolve())
    assert model_fingerprint(resolve_model(copy)) == before
    (copy / "meta.json").write_text((copy / "meta.json").read_text().replace("{", '{"x": 1,', 1))
    assert model_fingerprint(resolve_model(copy)) != before


def test_a_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"Expected a spaCy pipeline folder with a config.cfg, got .*\. Pass a folder"):
        resolve_model(tmp_path)
