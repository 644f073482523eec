"""SGD with momentum, as Ma & Hovy (2016) train the BiLSTM-CNN-CRF.

Thinc's ``SGD.v1`` has no momentum. ``spacy-crf-tagger.SGDMomentum.v1`` is the same
optimizer with a velocity per parameter (heavy-ball momentum, as ``torch.optim.SGD``
with ``dampening = 0``):

    v <- momentum * v + clip(g)
    w <- w - learn_rate * v

Everything else (schedules, L2 as weight decay, per-parameter gradient clipping,
averages) is Thinc's ``Optimizer``. Thinc has no hook for the SGD step itself, so
``__call__`` repeats its plain-SGD branch with the velocity in place of the gradient.

    [training.optimizer]
    @optimizers = "spacy-crf-tagger.SGDMomentum.v1"
    learn_rate = 0.005
    momentum = 0.9
"""
from typing import Tuple

from thinc.backends import get_array_ops
from thinc.optimizers import FloatOrSeq, KeyT, Optimizer
from thinc.types import FloatsXd


class MomentumSGD(Optimizer):
    """Thinc's plain SGD plus heavy-ball momentum; the velocities live in ``mom1``."""

    def __init__(self, learn_rate: FloatOrSeq, *, momentum: float, **kwargs) -> None:
        super().__init__(learn_rate, beta1=0.0, beta2=0.0, **kwargs)
        self.momentum = momentum

    def __call__(
        self,
        key: KeyT,
        weights: FloatsXd,
        gradient: FloatsXd,
        *,
        lr_scale: float = 1.0,
    ) -> Tuple[FloatsXd, FloatsXd]:
        if len(gradient) < 1:
            return weights, gradient
        ops = get_array_ops(weights)
        self.nr_update[key] += 1
        if self.L2 != 0 and not self.L2_is_weight_decay:
            gradient += self.L2 * weights
        if self.grad_clip:
            gradient = ops.clip_gradient(gradient, self.grad_clip)
        velocity = self.mom1.get(key)
        if velocity is None:
            velocity = self.mom1[key] = ops.alloc(weights.shape, dtype="float32")
        velocity *= self.momentum
        velocity += gradient
        weights -= lr_scale * self.learn_rate * velocity
        gradient *= 0
        if self.L2 != 0 and self.L2_is_weight_decay:
            weights -= lr_scale * self.learn_rate * self.L2 * weights
        if self.averages is not None:
            if key not in self.averages:
                self.averages[key] = ops.alloc(weights.shape, dtype="float32")
            ops.update_averages(self.averages[key], weights, self.nr_update[key])
        return weights, gradient


def make_sgd_momentum_v1(
    learn_rate: FloatOrSeq,
    *,
    momentum: float = 0.9,
    L2: FloatOrSeq = 0.0,
    grad_clip: FloatOrSeq = 5.0,
    L2_is_weight_decay: bool = True,
    use_averages: bool = False,
) -> Optimizer:
    """Registered as ``spacy-crf-tagger.SGDMomentum.v1``: Thinc's ``SGD.v1`` with
    heavy-ball momentum.

    learn_rate (FloatOrSeq): The learning rate, or a schedule.
    momentum (float): Share of the previous velocity kept at each update, in [0, 1);
        0 is plain SGD.
    L2 (FloatOrSeq): L2 penalty (weight decay when ``L2_is_weight_decay``).
    grad_clip (FloatOrSeq): Clip each parameter's gradient to this norm; 0 turns it off.
    L2_is_weight_decay (bool): Apply L2 as decoupled weight decay.
    use_averages (bool): Keep moving averages of the weights for evaluation.
    RETURNS (Optimizer): The optimizer.
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(
            f"SGDMomentum: expected `momentum` in [0, 1), got {momentum!r}. Use 0.9 "
            "as Ma & Hovy (2016), or 0 for plain SGD."
        )
    return MomentumSGD(
        learn_rate,
        momentum=momentum,
        L2=L2,
        grad_clip=grad_clip,
        L2_is_weight_decay=L2_is_weight_decay,
        use_averages=use_averages,
    )
