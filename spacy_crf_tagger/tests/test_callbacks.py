"""spacy-crf-tagger.require_packages.v1: the [nlp] before_creation check that names
the pip command for a missing optional package."""
import pytest
import spacy
from spacy.util import load_model_from_config, registry
from thinc.api import Config

from ..callbacks import MissingPackageError, make_require_packages_v1

MISSING = "spacy_crf_tagger_no_such_module"

CONFIG = f"""
[nlp]
lang = "en"
pipeline = ["needs_missing_package"]

[nlp.before_creation]
@callbacks = "spacy-crf-tagger.require_packages.v1"
modules = ["json", "{MISSING}"]
extra = "transformers"

[components]

[components.needs_missing_package]
factory = "factory_from_the_missing_package"
"""


def test_returns_the_language_class_when_every_module_imports():
    check = make_require_packages_v1(modules=["json", "spacy"], extra="transformers")
    assert check(spacy.blank("en").__class__) is spacy.blank("en").__class__


def test_missing_module_names_the_pip_command():
    check = make_require_packages_v1(modules=["json", MISSING], extra="transformers")
    with pytest.raises(MissingPackageError) as err:
        check(spacy.blank("en").__class__)
    message = str(err.value)
    assert MISSING in message and "json" not in message.split("(")[0]
    assert 'pip install "spacy-crf-tagger[transformers]"' in message
    assert isinstance(err.value, ImportError)


def test_config_fails_before_spacy_looks_up_the_factory():
    with pytest.raises(MissingPackageError, match=MISSING):
        load_model_from_config(Config().from_str(CONFIG), auto_fill=True)


@pytest.mark.parametrize(
    "modules,extra,match",
    [([], "transformers", "at least one module name"), (["json"], "", "name of a spacy-crf-tagger extra")],
)
def test_settings_are_checked(modules, extra, match):
    with pytest.raises(ValueError, match=match):
        make_require_packages_v1(modules=modules, extra=extra)


def test_registered():
    assert registry.callbacks.get("spacy-crf-tagger.require_packages.v1") is make_require_packages_v1
