"""Thinc wiring of the sequence labeller: any spaCy tok2vec (Docs -> List[Floats2d])
feeds a PyTorch ``SequenceLabelerNet``, which is built lazily once the input width
(nI) and the number of tags (nO) are known.

The model's output is ``LabelerOutput``: the CRF potentials of the non-empty Docs
as torch tensors, on the model's device. The structured loss and decoding run on
these in the component (``get_loss`` / ``predict``); the gradient of the loss with
respect to every potential (emissions *and* transitions) is passed back through
``backprop``, so the transition scores, the network and an upstream tok2vec or
listener are all trained through spaCy's normal ``update`` with one optimiser.
"""
import contextlib
import warnings
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, Optimizer, PyTorchShim, torch2xp, xp2torch
from thinc.types import Floats2d

from .featurize import batch_char_ids
from .language_model import VOCAB_ATTR, language_model_targets
from .pytorch.crf import CRFPotentials
from .pytorch.net import CharCNN, CharLSTM, SequenceLabelerNet
from .pytorch.output_layers import get_output_layer
from .settings import CharSettings, RNNEncoderSettings
from .word_features import output_width, require_connected_listeners


@dataclass
class LabelerOutput:
    """What the labeller model returns for a batch of Docs.

    potentials (Optional[CRFPotentials]): Scores of the non-empty Docs, padded to
        (B', T, K); None when every Doc is empty. Transitions are zeros for
        local output layers.
    doc_index (List[int]): Batch position of each row of the potentials.
    lengths (List[int]): Length of every Doc in the batch.
    language_model_loss (Optional[float]): The language-model objective's loss
        (unweighted), in training with ``language_model`` > 0.
    """

    potentials: Optional[CRFPotentials]
    doc_index: List[int]
    lengths: List[int]
    language_model_loss: Optional[float] = None


LabelerModelT = Model[List[Doc], LabelerOutput]


def build_sequence_labeler_v1(
    *,
    tok2vec: Model[List[Doc], List[Floats2d]],
    char_cnn: Optional[CharSettings] = None,
    encoder: Optional[RNNEncoderSettings] = None,
    output: str = "crf",
    dropout: float = 0.5,
    variational_dropout: bool = False,
    adversarial: float = 0.0,
    language_model: float = 0.0,
    language_model_words: int = 7500,
    mixed_precision: bool = False,
    nO: Optional[int] = None,
) -> LabelerModelT:
    """Build a sequence labeller: word features + optional character CNN, an optional
    recurrent encoder, and an output layer.

    The classic BiLSTM-CNN-CRF (Ma & Hovy 2016) is ``char_cnn`` =
    ``spacy-crf-tagger.CharCNN.v1``, ``encoder`` = ``spacy-crf-tagger.RNNEncoder.v1``
    (LSTM, bidirectional, 200) and ``output = "crf"``. Simpler systems come from the
    same builder: ``output = "softmax"`` for local normalisation, ``char_cnn = null``
    without characters, ``encoder = null`` for features straight into the output.

    tok2vec (Model[List[Doc], List[Floats2d]]): Word features, e.g.
        ``spacy.MultiHashEmbed.v2`` (hashed lexical features and static vectors), or a
        listener to a shared component earlier in the pipeline:
        ``spacy.Tok2VecListener.v1`` (a ``tok2vec``) or
        ``spacy-transformers.TransformerListener.v1`` (a ``transformer``; the gradient
        of the loss reaches the transformer's weights). nI is the width they report.
    char_cnn (Optional[CharSettings]): Character features: ``CharCNN.v1`` settings,
        ``CharLSTM.v1`` settings (Lample et al. 2016), or None.
    encoder (Optional[RNNEncoderSettings]): Recurrent encoder settings, or None.
    output (str): "crf" (global normalisation), "memm" (local normalisation given the
        previous tag) or "softmax" (per token).
    dropout (float): Dropout on the encoder's input and output (Ma & Hovy: 0.5). It is
        part of the architecture: spaCy's ``[training] dropout`` reaches only the
        Thinc layers (the tok2vec).
    variational_dropout (bool): Drop the same units at every token of a sequence (one
        mask per sequence, Gal & Ghahramani 2016) instead of independently per token.
    adversarial (float): Adversarial training (Goodfellow et al. 2015; Yasunaga et al.
        2018 for POS tagging): each update also trains on the batch with its encoder
        input (word and character features) moved by this much in the direction that
        most increases the loss, as a root mean square norm per token. 0 turns it off;
        it doubles the network's share of the training time and changes nothing at
        prediction. The word features of ``VocabHashEmbed.v1`` are layer-normalised,
        so a token's features have a norm of about sqrt(width).
    language_model (float): Weight of an auxiliary language-modelling loss (Rei 2017,
        who used 0.1): in training, the encoder's forward states also predict the next
        word and its backward states the previous one, out of the
        ``language_model_words`` most frequent words of the training corpus. 0 turns
        it off. It needs an encoder of depth 1 and word features that do not see
        neighbouring tokens (not a listener to a shared tok2vec or transformer, nor
        a window of tokens), or the next word would be in the input. Prediction is
        unchanged.
    language_model_words (int): Vocabulary of the language-modelling objective; the
        rarer words share one class.
    mixed_precision (bool): Run the network under CUDA autocast. The CRF dynamic
        programmes always run in float32.
    nO (Optional[int]): Number of tags; inferred from the component's labels.
    """
    get_output_layer(output)  # validates the name
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"Expected 0 <= dropout < 1, got {dropout}.")
    if not adversarial >= 0.0:
        raise ValueError(
            f"Expected adversarial >= 0 (the size of the perturbation per token; 0 is off), "
            f"got {adversarial}."
        )
    if not language_model >= 0.0:
        raise ValueError(
            f"Expected language_model >= 0 (the weight of the language-modelling loss; 0 is "
            f"off), got {language_model}."
        )
    if language_model > 0.0:
        if language_model_words < 1:
            raise ValueError(
                f"Expected language_model_words >= 1 with language_model > 0, got {language_model_words}."
            )
        if encoder is None or encoder.depth != 1:
            raise ValueError(
                "language_model > 0 needs a recurrent encoder of depth 1 (a stacked "
                "bidirectional layer reads the next word from the layer below), got "
                f"{'no encoder' if encoder is None else 'depth ' + str(encoder.depth)}. "
                "Set the encoder's depth = 1, or language_model = 0."
            )
        contextual = [
            node.name
            for node in tok2vec.walk()
            if "listener" in node.name or (node.name == "expand_window" and node.attrs.get("window_size", 0) > 0)
        ]
        if contextual:
            raise ValueError(
                "language_model > 0 needs word features of each token alone, got features that "
                f"see the neighbouring words ({', '.join(contextual)}: a listener or a window), "
                "so the next word would be in the input. Give the component word features "
                "without context (e.g. spacy-crf-tagger.VocabHashEmbed.v1, or LexicalFeatures.v1 "
                "with window = 0), or set language_model = 0."
            )
    return Model(
        "crf_sequence_labeler",
        forward,
        init=init,
        layers=[tok2vec],
        refs={"tok2vec": tok2vec},
        dims={"nI": None, "nO": nO},
        attrs={
            "char_cnn": char_cnn.to_dict() if char_cnn is not None else None,
            "encoder": encoder.to_dict() if encoder is not None else None,
            "output": output,
            "dropout": dropout,
            "variational_dropout": variational_dropout,
            "adversarial": adversarial,
            "language_model": language_model,
            "language_model_words": language_model_words,
            # The vocabulary's sorted NORM hashes (count_language_model_words).
            VOCAB_ATTR: numpy.zeros((0,), dtype="uint64"),
            "mixed_precision": mixed_precision,
            # Set by a component that restricts transitions (see `build_net`).
            "constraints": None,
        },
    )


def init(model: LabelerModelT, X: Optional[List[Doc]] = None, Y=None) -> LabelerModelT:
    tok2vec = model.get_ref("tok2vec")
    require_connected_listeners(tok2vec)
    if X is not None:
        tok2vec.initialize(X=X)
    else:
        tok2vec.initialize()
    if not model.has_dim("nI"):
        model.set_dim("nI", output_width(tok2vec))
    build_net(model)
    return model


def is_built(model: LabelerModelT) -> bool:
    return len(model.shims) > 0


def build_net(model: LabelerModelT) -> None:
    """Create the PyTorch network from the model's dims and attrs (once)."""
    if is_built(model):
        return
    for dim in ("nI", "nO"):
        if not model.has_dim(dim):
            raise ValueError(
                f"Cannot build the network of '{model.name}' before its dimension {dim} "
                "is set: initialize the component (nlp.initialize) first."
            )
    char_cfg = model.attrs["char_cnn"]
    char_cnn: Optional[torch.nn.Module] = None
    if char_cfg is not None and char_cfg.get("kind") == "lstm":
        char_cnn = CharLSTM(char_cfg["rows"], char_cfg["embed_size"], char_cfg["hidden_size"], char_cfg["dropout"])
    elif char_cfg is not None:
        char_cnn = CharCNN(
            char_cfg["rows"],
            char_cfg["embed_size"],
            char_cfg["filters"],
            char_cfg["window"],
            char_cfg["dropout"],
            boundaries=char_cfg.get("boundaries", False),
        )
    output_layer = get_output_layer(model.attrs["output"])
    net = SequenceLabelerNet(
        model.get_dim("nI"),
        model.get_dim("nO"),
        char_cnn,
        model.attrs["encoder"],
        model.attrs["dropout"],
        use_transitions=output_layer.uses_transitions,
        variational_dropout=model.attrs["variational_dropout"],
        language_model_words=language_model_words(model),
    )
    constraints = model.attrs["constraints"]
    if constraints is not None and net.crf is not None and output_layer.uses_constraints:
        net.crf.set_constraints(*(torch.tensor(c, dtype=torch.bool) for c in constraints))
    model._shims.append(AveragingPyTorchShim(net, mixed_precision=_use_mixed_precision(model)))


def language_model_words(model: LabelerModelT) -> int:
    """Vocabulary size of the network's language-model head; 0 when it has none."""
    if model.attrs.get("language_model", 0.0) > 0.0:
        return model.attrs["language_model_words"]
    return 0


def _use_mixed_precision(model: LabelerModelT) -> bool:
    """``mixed_precision`` on a GPU; on CPU, where CUDA autocast and gradient scaling do
    not exist, a warning and float32, so one config serves both devices."""
    if not model.attrs["mixed_precision"]:
        return False
    if model.ops.device_type == "gpu":
        if model.attrs["adversarial"] > 0.0:
            # Each backward pass unscales every parameter's gradient, so the second
            # pass of an adversarial update would unscale the first one's again.
            raise ValueError(
                f"'{model.name}': adversarial = {model.attrs['adversarial']} and "
                "mixed_precision = true cannot be combined, expected one of them off. Set "
                "mixed_precision = false to train adversarially on the GPU."
            )
        return True
    warnings.warn(
        f"'{model.name}': mixed_precision = true needs a GPU (CUDA autocast), got the "
        f"{type(model.ops).__name__} CPU backend; the network runs in float32. Train with "
        "--gpu-id 0 to use it, or set mixed_precision = false to silence this warning."
    )
    return False


class AveragingPyTorchShim(PyTorchShim):
    """A PyTorchShim whose ``use_params`` finds the optimiser's parameter averages,
    whose ``predict`` leaves the network in evaluation mode, and whose
    ``finish_update`` updates the parameters in place.

    Thinc's optimiser keeps the moving average of each torch parameter under the key
    ``(shim.id, name)`` (``PyTorchShim.finish_update``), but ``PyTorchShim.use_params``
    looks for string keys, so ``[training.optimizer] use_averages = true`` never reached
    the network. spaCy evaluates and saves inside ``nlp.use_params(optimizer.averages)``:
    with this shim the averaged weights are the ones evaluated and saved.
    """

    def predict(self, inputs: ArgsKwargs):
        """As ``PyTorchShim.predict``, without switching the network back to training
        mode after every call (``begin_update`` does that): toggling every module's
        mode cost about 5% of the time of predicting one short Doc."""
        if self._model.training:
            self._model.eval()
        with torch.no_grad(), torch.autocast(device_type="cuda", enabled=self._mixed_precision):
            return self._model(*inputs.args, **inputs.kwargs)

    def finish_update(self, optimizer: Optimizer) -> None:
        """As ``PyTorchShim.finish_update``, but the new values are written into each
        parameter's own storage instead of replacing its ``data``. Replacing it broke the
        single buffer that cuDNN keeps for an LSTM's weights (``flatten_parameters``), so
        every GPU forward warned and copied the weights into a new one."""
        scaler = self._grad_scaler
        for name, param in self._model.named_parameters():
            if param.grad is None:
                continue
            if not scaler.found_inf:  # a float16 gradient overflowed: skip this step
                value, _ = optimizer((self.id, name), torch2xp(param.data), torch2xp(param.grad))
                updated = xp2torch(value, device=param.device)
                if updated.data_ptr() != param.data_ptr():
                    param.data.copy_(updated)
            param.grad.zero_()
        scaler.update()

    @contextlib.contextmanager
    def use_params(self, params):
        averaged = {
            name: xp2torch(params[(self.id, name)], device=self.device)
            for name, _ in self._model.named_parameters()
            if (self.id, name) in params
        }
        if not averaged:
            with super().use_params(params):
                yield
            return
        backup = {name: value.detach().clone() for name, value in self._model.state_dict().items()}
        self._model.load_state_dict(averaged, strict=False)
        try:
            yield
        finally:
            self._model.load_state_dict(backup)


def get_net(model: LabelerModelT) -> SequenceLabelerNet:
    return model.shims[0]._model


def forward(
    model: LabelerModelT, docs: List[Doc], is_train: bool
) -> Tuple[LabelerOutput, Callable]:
    """Run the tok2vec and the network.

    The returned ``backprop(d_potentials, loss_grad=None)`` takes the gradient of the
    loss with respect to every potential. With ``adversarial`` > 0 it also takes
    ``loss_grad``, the component's LabelerOutput -> gradient function: it then runs
    the network a second time on the perturbed input and backpropagates that loss too.
    """
    tok2vec = model.get_ref("tok2vec")
    word_feats, bp_word_feats = tok2vec(docs, is_train)
    lengths = [len(doc) for doc in docs]
    keep = [i for i, n in enumerate(lengths) if n > 0]
    ops = model.ops

    def zero_grads() -> List[Floats2d]:
        return [ops.alloc2f(*wf.shape) for wf in word_feats]

    if not keep:
        return LabelerOutput(None, keep, lengths), lambda d, loss_grad=None: bp_word_feats(zero_grads())

    shim = model.shims[0]
    words = xp2torch(ops.pad([word_feats[i] for i in keep]), requires_grad=is_train)
    device = words.device
    spellings = char_index = None
    char_cfg = model.attrs["char_cnn"]
    if char_cfg is not None:
        ids, index = batch_char_ids([docs[i] for i in keep], char_cfg["max_chars"], char_cfg["rows"])
        spellings, char_index = torch.from_numpy(ids).to(device), torch.from_numpy(index).to(device)
    kept_lengths = [lengths[i] for i in keep]
    lengths_t = torch.tensor(kept_lengths, dtype=torch.long)
    mask = (torch.arange(words.shape[1]).unsqueeze(0) < lengths_t.unsqueeze(1)).to(device)
    epsilon = model.attrs["adversarial"]
    # Zeros added to the encoder's input, to read the loss's gradient there.
    probe = None
    if is_train and epsilon > 0.0:
        width = get_net(model).input_width
        probe = torch.zeros(*words.shape[:2], width, device=device, requires_grad=True)

    lm_targets = None
    lm_weight = model.attrs["language_model"]
    if is_train and lm_weight > 0.0 and len(model.attrs[VOCAB_ATTR]):
        directions = len(get_net(model).language_model.output)
        targets = language_model_targets([docs[i] for i in keep], model.attrs[VOCAB_ATTR], directions)
        lm_targets = torch.from_numpy(targets).to(device)

    def run_net(word_input: torch.Tensor, perturbation: Optional[torch.Tensor], lm_targets=None):
        """RETURNS: The outputs that make the potentials, the potentials, the
        language-model loss (None without lm_targets) and the network's backprop."""
        args = (word_input, spellings, char_index, lengths_t)
        kwargs = {"perturbation": perturbation, "lm_targets": lm_targets}
        outputs, bp_net = shim(ArgsKwargs(args=args, kwargs=kwargs), is_train)
        lm_loss = None
        if lm_targets is not None:
            *outputs, lm_loss = outputs
        return outputs, _potentials(outputs, mask), lm_loss, bp_net

    outputs, potentials, lm_loss, bp_net = run_net(words, probe, lm_targets)
    # The language-model loss, with the gradient it sends back: its weight.
    extra = [] if lm_loss is None else [(lm_loss, torch.tensor(lm_weight, dtype=lm_loss.dtype, device=device))]
    result = LabelerOutput(potentials, keep, lengths, None if lm_loss is None else float(lm_loss.detach()))

    def backprop(
        d_potentials: Sequence[Optional[torch.Tensor]],
        loss_grad: Optional[Callable[[LabelerOutput], Optional[CRFPotentials]]] = None,
    ) -> List[Doc]:
        d_inputs = _backprop_net(bp_net, outputs, d_potentials, extra)
        d_words_t = d_inputs.args[0]
        if probe is not None and loss_grad is not None and d_inputs.kwargs["perturbation"] is not None:
            eta = adversarial_perturbation(d_inputs.kwargs["perturbation"], lengths_t, epsilon)
            # A leaf of its own, so the two passes' gradients are not summed in place.
            words_adv = words.detach().requires_grad_()
            adv_outputs, adv_potentials, _, bp_adv = run_net(words_adv, eta)
            d_adv = loss_grad(LabelerOutput(adv_potentials, keep, lengths))
            if d_adv is not None:
                d_adv_words = _backprop_net(bp_adv, adv_outputs, d_adv).args[0]
                if d_adv_words is not None:
                    d_words_t = d_adv_words if d_words_t is None else d_words_t + d_adv_words
        d_word_feats = zero_grads()
        if d_words_t is not None:
            d_words = torch2xp(d_words_t)
            for row, i in enumerate(keep):
                d_word_feats[i] = d_words[row, : lengths[i]]
        return bp_word_feats(d_word_feats)

    return result, backprop


def _potentials(outputs: Sequence[torch.Tensor], mask: torch.Tensor) -> CRFPotentials:
    """CRFPotentials from the network's outputs; zero transitions without a CRF."""
    emissions = outputs[0]
    if len(outputs) > 1:
        transitions, start, end = outputs[1:]
    else:
        K = emissions.shape[2]
        transitions = emissions.new_zeros(K, K)
        start = end = emissions.new_zeros(K)
    return CRFPotentials(emissions, mask, transitions, start, end)


def _backprop_net(
    bp_net: Callable,
    outputs: Sequence[torch.Tensor],
    d_potentials,
    extra: Sequence[Tuple[torch.Tensor, torch.Tensor]] = (),
) -> ArgsKwargs:
    """Backpropagate the gradients of the potentials through the network, with those
    of any ``extra`` (output, gradient) pairs (the language-model loss).

    RETURNS (ArgsKwargs): The gradients of the network's inputs (None where an input
        needs none).
    """
    # Gradients for the tensors the network produced (emissions, and the CRF's
    # transition scores when it has them), in the order it returned them.
    grads = list(d_potentials)
    pairs = [
        (out, grad)
        for out, grad in zip(outputs, [grads[0], *grads[2:5]])
        if grad is not None and out.requires_grad
    ]
    pairs.extend(extra)
    return bp_net(ArgsKwargs(args=([o for o, _ in pairs],), kwargs={"grad_tensors": [g for _, g in pairs]}))


def adversarial_perturbation(grad: torch.Tensor, lengths: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The perturbation of adversarial training: each sequence's gradient, scaled to a
    root mean square norm of ``epsilon`` per token (the norm of the whole sequence's
    perturbation is ``epsilon * sqrt(length)``), so that tokens where the loss is most
    sensitive move most (Miyato et al. 2017).

    grad (torch.Tensor): Gradient of the loss at the encoder's input, shape (B, T, D),
        0 at padding.
    lengths (torch.Tensor): Shape (B,), on the CPU.
    epsilon (float): Root mean square norm per token.
    RETURNS (torch.Tensor): Shape (B, T, D), no gradient; 0 for a sequence whose
        gradient is 0.
    """
    grad = grad.detach().float()
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12)  # shape: (B,)
    scale = epsilon * lengths.to(grad.device, grad.dtype).sqrt() / norms
    return grad * scale[:, None, None]
