import pytest
import torch


def pytest_configure(config):
    # CI machines have two cores: keep torch from oversubscribing them.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    from thinc.api import fix_random_seed

    fix_random_seed(0)
