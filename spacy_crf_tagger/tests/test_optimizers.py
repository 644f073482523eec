"""SGDMomentum: Thinc's SGD plus heavy-ball momentum, checked against torch.optim.SGD."""
import numpy
import pytest
import torch
from thinc.api import Config, SGD
from spacy.util import registry

from ..optimizers import make_sgd_momentum_v1


def _problem():
    """A and b of the quadratic 0.5 * |A w - b|^2 that both optimizers minimise."""
    rng = numpy.random.default_rng(0)
    return rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=4).astype("float32")


def _quadratic_steps(optimizer, n_steps: int) -> numpy.ndarray:
    """Minimise the quadratic from w = 1 with ``optimizer``; return w."""
    A, b = _problem()
    weights = numpy.ones(3, dtype="float32")
    for _ in range(n_steps):
        gradient = A.T @ (A @ weights - b)
        weights, _ = optimizer((0, "w"), weights, gradient)
        optimizer.step_schedules()
    return weights


def _torch_steps(momentum: float, learn_rate: float, n_steps: int) -> numpy.ndarray:
    A, b = (torch.tensor(x) for x in _problem())
    weights = torch.ones(3, requires_grad=True)
    optimizer = torch.optim.SGD([weights], lr=learn_rate, momentum=momentum)
    for _ in range(n_steps):
        optimizer.zero_grad()
        (0.5 * ((A @ weights - b) ** 2).sum()).backward()
        optimizer.step()
    return weights.detach().numpy()


def test_momentum_matches_torch_sgd():
    ours = _quadratic_steps(make_sgd_momentum_v1(0.05, momentum=0.9, grad_clip=0.0), 25)
    numpy.testing.assert_allclose(ours, _torch_steps(0.9, 0.05, 25), rtol=1e-4, atol=1e-5)


def test_zero_momentum_is_thincs_sgd():
    ours = _quadratic_steps(make_sgd_momentum_v1(0.05, momentum=0.0), 25)
    thinc = _quadratic_steps(SGD(0.05, grad_clip=5.0, L2=0.0, use_averages=False), 25)
    numpy.testing.assert_allclose(ours, thinc, rtol=1e-6)


def test_momentum_moves_further_than_plain_sgd():
    start = numpy.ones(3, dtype="float32")
    plain = _quadratic_steps(make_sgd_momentum_v1(0.01, momentum=0.0), 5)
    heavy = _quadratic_steps(make_sgd_momentum_v1(0.01, momentum=0.9), 5)
    assert numpy.abs(heavy - start).sum() > numpy.abs(plain - start).sum()


def test_schedule_and_averages_from_config():
    config = Config().from_str(
        """
        [optimizer]
        @optimizers = "spacy-crf-tagger.SGDMomentum.v1"
        momentum = 0.5
        use_averages = true

        [optimizer.learn_rate]
        @schedules = "decaying.v1"
        base_rate = 0.1
        decay = 0.5
        t = 0
        """
    )
    optimizer = registry.resolve(config)["optimizer"]
    assert optimizer.learn_rate == pytest.approx(0.1)
    _quadratic_steps(optimizer, 2)
    assert optimizer.learn_rate == pytest.approx(0.1 / (1 + 0.5 * 2))
    assert (0, "w") in optimizer.averages
    assert (0, "w") in optimizer.mom1


def test_gradient_is_zeroed_and_clipped():
    optimizer = make_sgd_momentum_v1(1.0, momentum=0.9, grad_clip=1.0)
    weights = numpy.zeros(2, dtype="float32")
    gradient = numpy.asarray([30.0, 40.0], dtype="float32")
    weights, gradient = optimizer((0, "w"), weights, gradient)
    numpy.testing.assert_allclose(weights, [-0.6, -0.8], rtol=1e-5)
    assert not gradient.any()


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5])
def test_momentum_out_of_range_says_what_to_use(momentum):
    with pytest.raises(ValueError, match=r"expected `momentum` in \[0, 1\), got"):
        make_sgd_momentum_v1(0.01, momentum=momentum)
