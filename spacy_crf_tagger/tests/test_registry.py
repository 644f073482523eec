"""Every name the package registers resolves through its entry point."""
import pytest
import spacy
from spacy.language import Language
from spacy.util import registry

ARCHITECTURES = [
    "spacy-crf-tagger.SequenceLabeler.v1",
    "spacy-crf-tagger.CharCNN.v1",
    "spacy-crf-tagger.CharLSTM.v1",
    "spacy-crf-tagger.RNNEncoder.v1",
    "spacy-crf-tagger.LexicalFeatures.v1",
    "spacy-crf-tagger.VocabHashEmbed.v1",
]
SCORERS = ["spacy-crf-tagger.tagger_scorer.v1"]
CALLBACKS = ["spacy-crf-tagger.require_packages.v1"]
OPTIMIZERS = ["spacy-crf-tagger.SGDMomentum.v1"]
FACTORIES = ["crf_tagger"]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_architectures(name):
    assert callable(registry.architectures.get(name))


@pytest.mark.parametrize("name", SCORERS)
def test_scorers(name):
    assert callable(registry.scorers.get(name))


@pytest.mark.parametrize("name", CALLBACKS)
def test_callbacks(name):
    assert callable(registry.callbacks.get(name))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers(name):
    assert callable(registry.optimizers.get(name))


@pytest.mark.parametrize("name", FACTORIES)
def test_factories(name):
    spacy.blank("en")  # loads the spacy_factories entry points
    assert Language.has_factory(name)
