"""`use_averages = true` reaches the torch network: spaCy evaluates and saves inside
``nlp.use_params(optimizer.averages)``, which must swap in the averaged weights and
swap the trained ones back afterwards."""
import spacy
import torch
from spacy.util import make_tempdir
from thinc.api import Adam

from spacy_crf_tagger.models.sequence_labeler import get_net

from ..pipeline.util import small_model, tagged_examples


def trained_tagger(use_averages: bool, steps: int):
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_tagger", config={"model": small_model()})
    egs = tagged_examples(nlp)
    nlp.initialize(lambda: egs)
    optimizer = Adam(0.01, use_averages=use_averages)
    for _ in range(steps):
        nlp.update(egs, sgd=optimizer)
    return nlp, optimizer


def test_use_params_swaps_in_the_averaged_torch_weights():
    nlp, optimizer = trained_tagger(use_averages=True, steps=5)
    model = nlp.get_pipe("crf_tagger").model
    net, shim = get_net(model), model.shims[0]
    trained = {name: p.detach().clone() for name, p in net.named_parameters()}
    averaged = {name: torch.as_tensor(optimizer.averages[(shim.id, name)]) for name in trained}
    assert any(not torch.allclose(trained[n], averaged[n]) for n in trained)
    texts = ["I like green eggs", "Dogs bark"]
    with nlp.use_params(optimizer.averages):
        for name, p in net.named_parameters():
            assert torch.allclose(p, averaged[name])
        inside = [[t.tag_ for t in doc] for doc in nlp.pipe(texts)]
        with make_tempdir() as d:
            nlp.to_disk(d)
            saved = spacy.load(d)
    for name, p in net.named_parameters():
        assert torch.equal(p, trained[name])
    # What was saved inside use_params is the averaged model.
    for name, p in get_net(saved.get_pipe("crf_tagger").model).named_parameters():
        assert torch.allclose(p, averaged[name])
    assert [[t.tag_ for t in doc] for doc in saved.pipe(texts)] == inside


def test_without_averages_use_params_changes_nothing():
    nlp, optimizer = trained_tagger(use_averages=False, steps=1)
    net = get_net(nlp.get_pipe("crf_tagger").model)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    with nlp.use_params(optimizer.averages or {}):
        assert all(torch.equal(p, before[name]) for name, p in net.named_parameters())
