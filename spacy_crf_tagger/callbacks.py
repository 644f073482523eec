"""Config callbacks.

``spacy-crf-tagger.require_packages.v1`` runs as ``[nlp] before_creation``, i.e. before
spaCy looks up any component factory, and checks that the optional packages a config
needs can be imported. A transformer config on a machine without spacy-transformers
then fails with what to install, instead of spaCy's "Can't find factory for
'transformer'":

    [nlp.before_creation]
    @callbacks = "spacy-crf-tagger.require_packages.v1"
    modules = ["spacy_transformers"]
    extra = "transformers"
"""
import importlib
from typing import Callable, List, Tuple, Type

from spacy.language import Language

DIST_NAME = "spacy-crf-tagger"


class MissingPackageError(ImportError):
    """An optional package a config needs is not installed (or does not import)."""


def missing_modules(modules: List[str]) -> List[Tuple[str, str]]:
    """Import each module; collect those that fail.

    RETURNS (List[Tuple[str, str]]): (module, reason) for every module that cannot be
        imported, in the order given.
    """
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:
            missing.append((name, f"{type(err).__name__}: {err}"))
    return missing


def install_command(extra: str) -> str:
    """RETURNS (str): The pip command that installs this package with ``extra``."""
    return f'pip install "{DIST_NAME}[{extra}]"'


def make_require_packages_v1(
    *, modules: List[str], extra: str
) -> Callable[[Type[Language]], Type[Language]]:
    """Registered as ``spacy-crf-tagger.require_packages.v1``: a ``[nlp]
    before_creation`` callback that raises ``MissingPackageError`` (an ImportError)
    naming the pip command to run when one of ``modules`` cannot be imported.

    modules (List[str]): Python modules the pipeline needs, e.g. ["spacy_transformers"].
    extra (str): The extra of spacy-crf-tagger that installs them, e.g. "transformers".
    RETURNS (Callable[[Type[Language]], Type[Language]]): The callback; it returns the
        Language class unchanged when every module imports.
    """
    if not modules:
        raise ValueError(
            "require_packages: expected at least one module name in `modules`, got an "
            "empty list. List the Python modules the config needs, e.g. "
            '["spacy_transformers"], or remove [nlp.before_creation].'
        )
    if not extra:
        raise ValueError(
            "require_packages: expected the name of a spacy-crf-tagger extra in `extra` "
            '(e.g. "transformers"), got an empty string.'
        )
    wanted = list(modules)

    def require_packages(lang_cls: Type[Language]) -> Type[Language]:
        missing = missing_modules(wanted)
        if missing:
            names = ", ".join(name for name, _ in missing)
            reasons = "; ".join(reason for _, reason in missing)
            raise MissingPackageError(
                f"This pipeline needs the Python package(s) {names}, which cannot be "
                f"imported here ({reasons}). Install them with:  {install_command(extra)}  "
                "(the config asks for them in [nlp.before_creation])."
            )
        return lang_cls

    return require_packages
