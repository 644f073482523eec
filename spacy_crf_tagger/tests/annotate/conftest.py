from pathlib import Path

import pytest

from .util import train_pipeline


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A tiny trained crf_tagger + crf_ner pipeline on disk."""
    from thinc.api import fix_random_seed

    fix_random_seed(0)
    path = tmp_path_factory.mktemp("annotate-model") / "model"
    train_pipeline().to_disk(path)
    return path
