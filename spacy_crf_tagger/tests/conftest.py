import os

import pytest
import torch


def pytest_configure(config):
    # CI machines have two cores: keep torch from oversubscribing them.
    torch.set_num_threads(1)
    # Nothing may download at run time (subprocesses inherit this).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """Directory of a tiny random BERT and its tokenizer (see tiny_bert.py)."""
    pytest.importorskip("spacy_transformers")
    from .tiny_bert import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(autouse=True)
def _seed():
    from thinc.api import fix_random_seed

    fix_random_seed(0)
