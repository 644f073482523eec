"""The optimiser's step writes into each torch parameter's own storage.

cuDNN keeps an LSTM's weights in one flat buffer (``flatten_parameters``); a step that
replaced ``param.data`` (Thinc's ``PyTorchShim.finish_update``) broke it, and every GPU
forward then warned and copied the weights. The CPU has no such buffer, so what is
checked here is the invariant it needs: the same storage, holding the new values.
"""
import numpy
import torch
from thinc.api import Adam

from spacy_crf_tagger.models.sequence_labeler import get_net

from ..pipeline.util import tagged_examples, tagger_nlp


class CopyingSGD:
    """A plain SGD step that returns new arrays instead of updating in place, and
    remembers what it returned."""

    def __init__(self, learn_rate: float = 0.1):
        self.learn_rate = learn_rate
        self.returned = {}

    def __call__(self, key, weights, gradient, *, lr_scale: float = 1.0):
        new = weights - self.learn_rate * gradient
        self.returned[key] = new.copy()
        return new, numpy.zeros_like(gradient)


def _trained_one_step(optimizer):
    nlp = tagger_nlp()
    examples = tagged_examples(nlp)
    nlp.initialize(lambda: examples)
    net = get_net(nlp.get_pipe("crf_tagger").model)
    # `p.data` views the parameter's storage; `is_set_to` is false once it is replaced.
    before = {name: (p.data, p.detach().clone()) for name, p in net.named_parameters()}
    nlp.update(examples, sgd=optimizer)
    return nlp, net, before


def test_adam_updates_every_parameter_in_its_own_storage():
    _, net, before = _trained_one_step(Adam(0.01))
    for name, p in net.named_parameters():
        assert p.data.is_set_to(before[name][0]), name
        assert p.requires_grad and p.grad is not None and not p.grad.any(), name
    changed = [name for name, p in net.named_parameters() if not torch.equal(p, before[name][1])]
    assert "encoder.rnn.weight_hh_l0" in changed and "crf.transitions" in changed


def test_an_optimiser_that_returns_new_arrays_is_copied_into_the_storage():
    optimizer = CopyingSGD()
    nlp, net, before = _trained_one_step(optimizer)
    shim = nlp.get_pipe("crf_tagger").model.shims[0]
    for name, p in net.named_parameters():
        assert p.data.is_set_to(before[name][0]), name
        numpy.testing.assert_array_equal(p.detach().numpy(), optimizer.returned[(shim.id, name)])
