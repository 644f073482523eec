"""What ``crf_tagger`` and ``crf_ner`` share: labels in ``cfg``, the structured loss,
decoding, initialisation and serialisation of the lazily built PyTorch network.

Subclasses say how gold annotation becomes tag ids (``_gold_tags``), which labels
the examples hold (``_labels_from_examples``), which tag set the network predicts
(``tag_names``) and how decoded tags become annotations (``set_annotations``).
"""
from itertools import islice
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy
import srsly
import torch
from spacy import util
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer, set_dropout_rate

from .. import about
from ..errors import format_docs
from ..models.pytorch.crf import CRFPotentials
from ..models.pytorch.output_layers import get_output_layer
from ..models.language_model import count_language_model_words
from ..models.sequence_labeler import LabelerOutput, build_net, is_built, language_model_words
from ..models.tuned_vectors import count_vector_rows
from ..models.vocab_embed import count_training_words
from ..models.word_features import require_vectors
from .batching import length_buckets

MISSING = -1

# Version of what to_disk/to_bytes write; a loader refuses a newer one.
FORMAT_VERSION = 1
# Architecture settings that do not change the shapes of the weights.
NOT_IN_WEIGHTS = ("dropout", "max_chars")


class CRFPipe(TrainablePipe):
    """Base class of the CRF components. Not used directly."""

    def __init__(self, vocab: Vocab, model: Model, name: str, *, scorer: Optional[Callable], **cfg):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {"labels": [], "nI": None, **cfg}

    # -- labels -------------------------------------------------------------

    @property
    def labels(self) -> Tuple[str, ...]:
        """RETURNS (Tuple[str]): The labels, in the order the network outputs them."""
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.cfg["labels"])

    @property
    def tag_names(self) -> Tuple[str, ...]:
        """The tags the network scores, one per output row (the labels themselves for
        a tagger, BILUO tags for NER)."""
        return self.labels

    def _tag_index(self) -> Dict[str, int]:
        """Tag name -> network output row, rebuilt when the tags change."""
        tags = self.tag_names
        cached = getattr(self, "_tag_index_cache", None)
        if cached is None or cached[0] != tags:
            cached = (tags, {tag: i for i, tag in enumerate(tags)})
            self._tag_index_cache = cached
        return cached[1]

    def add_label(self, label: str) -> int:
        """Add a label before the component is initialised.

        RETURNS (int): 0 if the label was already present, otherwise 1.
        """
        if not isinstance(label, str):
            raise ValueError(Errors.E187)
        if label in self.labels:
            return 0
        if is_built(self.model):
            raise ValueError(
                f"Cannot add label {label!r} to '{self.name}': its network was already "
                f"built for {len(self.labels)} labels. Add every label before "
                "nlp.initialize(), or give them all with `labels` in [initialize.components]."
            )
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def _labels_from_examples(self, examples: Iterable[Example]) -> Iterable[str]:
        raise NotImplementedError

    def _gold_tags(self, example: Example) -> numpy.ndarray:
        """Gold tag ids of ``example.predicted``'s tokens, MISSING where unknown.

        RETURNS (numpy.ndarray): Shape (len(example.predicted),), int64.
        """
        raise NotImplementedError

    def _require_labels(self) -> None:
        if not self.labels:
            raise ValueError(Errors.E143.format(name=self.name))

    # -- network ------------------------------------------------------------

    def _configure_model(self) -> None:
        """Give the model what it needs before its network is built: the number of
        tags (and, in subclasses, transition constraints)."""
        if not self.model.has_dim("nO"):
            self.model.set_dim("nO", len(self.tag_names))

    def _ensure_built(self) -> None:
        """Build the network of a component whose cfg was loaded, so that its weights
        can be loaded into it (the network is created lazily at initialisation)."""
        if is_built(self.model) or self.cfg.get("nI") is None:
            return
        self._configure_model()
        if not self.model.has_dim("nI"):
            self.model.set_dim("nI", self.cfg["nI"])
        build_net(self.model)

    @property
    def output_layer(self):
        return get_output_layer(self.model.attrs["output"])

    # -- prediction -----------------------------------------------------------

    # Docs of a prediction batch run through the network in groups of similar
    # length, each padded to at most this many tokens (see `batching.py`).
    max_padded_tokens: int = 32768

    def predict(self, docs: Iterable[Doc]):
        """Decode the best tag sequence of each Doc.

        RETURNS: What ``set_annotations`` reads; for ``CRFPipe``, tag ids per Doc
            (List[numpy.ndarray], each of shape (len(doc),)).
        """
        docs = list(docs)
        results = [self._empty_result() for _ in docs]
        for index, out in self._run_model_grouped(docs):
            for i, result in zip(index, self._decode(out)):
                results[i] = result
        return self._collect(results)

    def decode(self, out: LabelerOutput):
        """Decode one output of ``self.model.predict(docs)``: what ``set_annotations``
        reads for those Docs. ``predict`` does this for groups of similar length; call
        it directly to decode potentials changed outside the model, e.g. averaged over
        several models (``scripts/ensemble.py``).
        """
        if out.potentials is None:
            return self._collect([self._empty_result() for _ in out.lengths])
        return self._collect(self._decode(out))

    def _empty_result(self):
        """The prediction for an empty Doc."""
        return numpy.zeros((0,), dtype="int64")

    def _decode(self, out: LabelerOutput) -> list:
        """One result per Doc of ``out``: its best tag ids."""
        with torch.no_grad():
            best, _ = self.output_layer.decode(out.potentials)
        return self._unbatch(out, best.cpu().numpy())

    def _collect(self, results: list):
        """Turn the per-Doc results into what ``set_annotations`` reads."""
        return results

    def _run_model(self, docs: List[Doc]) -> LabelerOutput:
        if not is_built(self.model):
            raise ValueError(Errors.E109.format(name=self.name))
        return self.model.predict(docs)

    def _run_model_grouped(self, docs: List[Doc]) -> Iterator[Tuple[List[int], LabelerOutput]]:
        """Run the network on the non-empty Docs, in groups of similar length.

        YIELDS (Tuple[List[int], LabelerOutput]): The Docs' indices in ``docs`` and
            the model's output for them, in that order.
        """
        for index in length_buckets([len(doc) for doc in docs], self.max_padded_tokens):
            yield index, self._run_model([docs[i] for i in index])

    @staticmethod
    def _unbatch(out: LabelerOutput, rows: numpy.ndarray) -> List[numpy.ndarray]:
        """Split a padded (B', T, ...) array into one array per Doc of the batch,
        empty Docs included."""
        per_doc = [numpy.zeros((0,) + rows.shape[2:], dtype=rows.dtype) for _ in out.lengths]
        for row, i in enumerate(out.doc_index):
            per_doc[i] = rows[row, : out.lengths[i]]
        return per_doc

    # -- training -------------------------------------------------------------

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch of examples. See ``TrainablePipe.update``."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        if not 0.0 <= drop < 1.0:
            # Thinc's dropout accepts any rate; one of 1 or more zeroes the word
            # features and training quietly unlearns the model.
            raise ValueError(
                f"Expected a dropout rate in [0, 1) for '{self.name}', got {drop}. Check "
                "[training] dropout in the config (spaCy's default is 0.1), or the `drop` "
                "given to nlp.update()."
            )
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        if not is_built(self.model):
            raise ValueError(Errors.E109.format(name=self.name))
        set_dropout_rate(self.model, drop)
        scores, bp_scores = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        if scores.language_model_loss is not None:
            lm_key = f"{self.name}_language_model"
            losses[lm_key] = losses.get(lm_key, 0.0) + scores.language_model_loss
        if self.model.attrs.get("adversarial", 0.0) > 0.0:
            # Adversarial training: the model runs the network again on a perturbed
            # input and needs the loss's gradient for that output too.
            adversarial_key = f"{self.name}_adversarial"
            losses.setdefault(adversarial_key, 0.0)

            def adversarial_grad(perturbed: LabelerOutput) -> Optional[CRFPotentials]:
                adversarial_loss, d_perturbed = self.get_loss(examples, perturbed)
                losses[adversarial_key] += adversarial_loss
                return d_perturbed

            bp_scores(d_scores, loss_grad=adversarial_grad)
        else:
            bp_scores(d_scores)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(
        self, examples: Iterable[Example], scores: LabelerOutput
    ) -> Tuple[float, Optional[CRFPotentials]]:
        """Negative log-likelihood of the gold tags, summed over the batch, with
        missing gold tags marginalised out; and its gradient with respect to every
        potential (emissions, transitions, start and end scores).

        RETURNS (Tuple[float, Optional[CRFPotentials]]): The loss and the gradients.
        """
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.get_loss")
        p = scores.potentials
        if p is None:
            return 0.0, None
        B, T, _ = p.emissions.shape
        gold = numpy.full((B, T), MISSING, dtype="int64")
        for row, i in enumerate(scores.doc_index):
            gold[row, : scores.lengths[i]] = self._gold_tags(examples[i])
        gold_t = torch.from_numpy(gold).to(p.emissions.device)
        leaves = [x.detach().float().requires_grad_() for x in (p.emissions, p.transitions, p.start, p.end)]
        with torch.enable_grad():
            nll = self.output_layer.nll(CRFPotentials(leaves[0], p.mask, *leaves[1:]), gold_t)
            if not bool(torch.isfinite(nll).all()):
                bad = [scores.doc_index[r] for r in torch.nonzero(~torch.isfinite(nll)).flatten().tolist()]
                raise ValueError(
                    Errors.E910.format(name=self.name)
                    + " Non-finite loss for "
                    + format_docs([examples[i].predicted for i in bad])
                    + ". Check these documents' annotation and lower the learning rate."
                )
            loss = nll.sum()
            grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        d_emissions = grads[0].to(p.emissions.dtype)
        return float(loss.detach()), CRFPotentials(d_emissions, None, *grads[1:])

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        """Collect the labels (unless given), then build and initialise the model.

        get_examples (Callable[[], Iterable[Example]]): A representative sample.
        nlp (Language): The pipeline.
        labels (Optional[Sequence[str]]): The labels, e.g. from `spacy init labels`.
        """
        validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
        doc_sample = [eg.reference for eg in islice(get_examples(), 10)]
        if not doc_sample:
            raise ValueError(
                f"Cannot initialise '{self.name}': the training corpus gave no examples. "
                "Check that [paths] train (--paths.train) points at a non-empty .spacy file "
                "or folder; `python -m spacy debug crf-data CONFIG` reports what it holds."
            )
        if labels is not None:
            for label in labels:
                self.add_label(label)
        else:
            for label in sorted(set(self._labels_from_examples(get_examples()))):
                self.add_label(label)
        self._require_labels()
        self._configure_model()
        require_vectors(self.model.get_ref("tok2vec"), self.vocab, self.name)
        self.model.initialize(X=doc_sample)
        # A VocabHashEmbed learns which words (and vectors rows) the training data holds.
        count_training_words(self.model, (eg.predicted for eg in get_examples()))
        count_vector_rows(self.model, (eg.predicted for eg in get_examples()))
        # The language-modelling objective's vocabulary: frequent training words.
        count_language_model_words(self.model, (eg.predicted for eg in get_examples()))
        self.cfg["nI"] = self.model.get_dim("nI")

    # -- serialisation --------------------------------------------------------
    # The network exists only after initialisation, so cfg (labels, nI, the
    # network's shape) is loaded first, checked against the model, the network
    # rebuilt from it, and only then are the weights loaded.

    def _net_shape(self) -> Dict[str, Any]:
        """The settings that fix the shapes of the network's weights."""
        attrs = self.model.attrs

        def weights_only(settings: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
            if settings is None:
                return None
            return {k: v for k, v in settings.items() if k not in NOT_IN_WEIGHTS}

        shape = {
            "char_cnn": weights_only(attrs["char_cnn"]),
            "encoder": weights_only(attrs["encoder"]),
            "output": attrs["output"],
        }
        # Only with the objective on, so that what older versions saved still matches.
        if language_model_words(self.model):
            shape["language_model_words"] = language_model_words(self.model)
        return shape

    def _saved_cfg(self) -> Dict[str, Any]:
        cfg = dict(self.cfg)
        cfg["format_version"] = FORMAT_VERSION
        if cfg.get("nI") is not None:
            cfg["net"] = self._net_shape()
        return cfg

    def _load_cfg(self, saved: Dict[str, Any], source: str) -> None:
        version = saved.get("format_version", 1)
        if version > FORMAT_VERSION:
            raise ValueError(
                f"'{self.name}' in {source} was saved by a newer spacy-crf-tagger (format "
                f"version {version}); this is {about.__version__}, which reads format "
                f"{FORMAT_VERSION}. Upgrade spacy-crf-tagger to load it."
            )
        saved_net = saved.get("net")
        if saved_net is not None:
            current = self._net_shape()
            diffs = [
                f"{key}: saved {saved_net.get(key)!r}, config {current.get(key)!r}"
                for key in sorted(set(current) | set(saved_net))
                if saved_net.get(key) != current.get(key)
            ]
            if diffs:
                raise ValueError(
                    f"Cannot load '{self.name}' from {source}: its weights were trained with a "
                    f"different architecture than the config describes ({'; '.join(diffs)}). "
                    "Load it with the config saved beside it (spacy.load(path)), or retrain."
                )
        built_tags = self.model.get_dim("nO") if is_built(self.model) else None
        self.cfg.update({k: v for k, v in saved.items() if k not in ("format_version", "net")})
        if built_tags is not None and built_tags != len(self.tag_names):
            raise ValueError(
                f"Cannot load '{self.name}' from {source}: it was saved with labels "
                f"{list(self.labels)} ({len(self.tag_names)} tags), but this component's network "
                f"is already built for {built_tags} tags. Load into a fresh pipeline "
                "(spacy.load(path)) instead of one that was initialised."
            )

    def _load_weights(self, data: bytes, source: str) -> None:
        self._ensure_built()
        try:
            self.model.from_bytes(data)
        except (ValueError, RuntimeError, KeyError) as err:
            raise ValueError(
                f"Cannot load the weights of '{self.name}' from {source}: they do not fit the "
                f"model built from the config ({type(err).__name__}: {str(err)[:300]}). Load it "
                "with the config saved beside it (spacy.load(path)), or retrain."
            ) from err

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        serialize = {
            "cfg": lambda: srsly.json_dumps(self._saved_cfg()),
            "vocab": lambda: self.vocab.to_bytes(exclude=exclude),
            "model": self.model.to_bytes,
        }
        return util.to_bytes(serialize, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "CRFPipe":
        deserialize = {
            "cfg": lambda b: self._load_cfg(srsly.json_loads(b), "bytes"),
            "vocab": lambda b: self.vocab.from_bytes(b, exclude=exclude),
            "model": lambda b: self._load_weights(b, "bytes"),
        }
        util.from_bytes(bytes_data, deserialize, exclude)
        return self

    def to_disk(self, path, *, exclude=tuple()) -> None:
        serialize = {
            "cfg": lambda p: srsly.write_json(p, self._saved_cfg()),
            "vocab": lambda p: self.vocab.to_disk(p, exclude=exclude),
            "model": lambda p: self.model.to_disk(p),
        }
        util.to_disk(path, serialize, exclude)

    def from_disk(self, path, *, exclude=tuple()) -> "CRFPipe":
        def load_weights(p) -> None:
            with open(p, "rb") as f:
                self._load_weights(f.read(), str(path))

        deserialize = {
            "cfg": lambda p: self._load_cfg(srsly.read_json(p), str(path)),
            "vocab": lambda p: self.vocab.from_disk(p, exclude=exclude),
            "model": load_weights,
        }
        util.from_disk(path, deserialize, exclude)
        return self
