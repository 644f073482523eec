"""The network that turns word features into emission scores: character CNN, recurrent
encoder and a linear projection, plus the CRF's transition scores. Plain PyTorch; no
spaCy or Thinc imports.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from .crf import LinearChainCRF

RNN_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharCNN(nn.Module):
    """Character embeddings, one convolution and max-pooling over each word
    (Ma & Hovy 2016, section 2.1).

    n_chars (int): Rows of the character embedding table; id 0 is padding.
    embed_size (int): Character embedding width.
    filters (int): Number of convolution filters = output width.
    window (int): Convolution window, in characters.
    dropout (float): Dropout on the character embeddings.
    boundaries (bool): Read each word between a begin and an end marker (two more
        embedding rows), so a filter can match a character sequence at the start or
        the end of the word, e.g. the suffix "ed", not only anywhere in it.
    """

    def __init__(
        self, n_chars: int, embed_size: int, filters: int, window: int, dropout: float, boundaries: bool = False
    ):
        super().__init__()
        self.boundaries = boundaries
        # The markers take the two rows after the hashed characters.
        self.begin, self.end = n_chars, n_chars + 1
        self.embed = nn.Embedding(n_chars + (2 if boundaries else 0), embed_size, padding_idx=0)
        bound = (3.0 / embed_size) ** 0.5
        nn.init.uniform_(self.embed.weight, -bound, bound)
        with torch.no_grad():
            self.embed.weight[0].zero_()
        self.dropout = nn.Dropout(dropout)
        self.conv = nn.Conv1d(embed_size, filters, window, padding="same")
        self.width = filters

    def forward(self, chars: Tensor) -> Tensor:
        """chars (Tensor): Character ids, shape (N, C), 0 = padding (right-padded).
        RETURNS (Tensor): Shape (N, filters).
        """
        if self.boundaries:
            chars = self.add_boundaries(chars)
        x = self.dropout(self.embed(chars)).transpose(1, 2)  # shape: (N, E, C)
        h = self.conv(x)  # shape: (N, F, C')
        pad = (chars == 0).unsqueeze(1)
        pooled = h.masked_fill(pad, float("-inf")).max(dim=2).values
        # A row without characters (all padding) pools to 0, not -inf.
        return pooled.masked_fill(pad.all(dim=2), 0.0)

    def add_boundaries(self, chars: Tensor) -> Tensor:
        """chars (Tensor): Shape (N, C), right-padded.
        RETURNS (Tensor): Shape (N, C + 2): the begin marker, the characters, the end
            marker, then padding; a row without characters stays all padding.
        """
        N, C = chars.shape
        n = (chars != 0).sum(dim=1)
        has_chars = n > 0
        marked = chars.new_zeros(N, C + 2)
        marked[:, 1 : C + 1] = chars
        marked[:, 0] = has_chars.to(chars.dtype) * self.begin
        marked[torch.arange(N, device=chars.device), n + 1] = has_chars.to(chars.dtype) * self.end
        return marked


class CharLSTM(nn.Module):
    """Character embeddings read by a bidirectional LSTM; a word's feature is the last
    state of each direction (Lample et al. 2016, section 2.4). Unlike max-pooled
    convolutions, the states know where in the word a character is, so prefixes and
    suffixes are told apart.

    n_chars (int): Rows of the character embedding table; id 0 is padding.
    embed_size (int): Character embedding width.
    hidden_size (int): Hidden units per direction; the output width is twice this.
    dropout (float): Dropout on the character embeddings.
    """

    def __init__(self, n_chars: int, embed_size: int, hidden_size: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(n_chars, embed_size, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embed_size, hidden_size, batch_first=True, bidirectional=True)
        self.width = 2 * hidden_size

    def forward(self, chars: Tensor) -> Tensor:
        """chars (Tensor): Character ids, shape (N, C), 0 = padding (right-padded).
        RETURNS (Tensor): Shape (N, 2 * hidden_size); 0 for a row without characters.
        """
        n_chars = (chars != 0).sum(dim=1)
        x = self.dropout(self.embed(chars))  # shape: (N, C, E)
        packed = pack_padded_sequence(x, n_chars.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h: (2, N, H), forward then backward
        states = torch.cat([h[0], h[1]], dim=1)
        return states.masked_fill((n_chars == 0).unsqueeze(1), 0.0)


class RNNEncoder(nn.Module):
    """A (bi)directional recurrent layer stack over padded sequences.

    input_size (int): Input width.
    cell (str): "lstm", "gru" or "rnn" (Elman RNN with tanh).
    hidden_size (int): Hidden units per direction.
    depth (int): Number of stacked layers.
    bidirectional (bool): Run a second layer right to left and concatenate.
    dropout (float): Dropout between stacked layers.
    """

    def __init__(
        self,
        input_size: int,
        cell: str,
        hidden_size: int,
        depth: int,
        bidirectional: bool,
        dropout: float,
    ):
        super().__init__()
        if cell not in RNN_CELLS:
            raise ValueError(f"Unknown cell {cell!r}: expected one of {sorted(RNN_CELLS)}.")
        self.rnn = RNN_CELLS[cell](
            input_size,
            hidden_size,
            num_layers=depth,
            bidirectional=bidirectional,
            dropout=dropout if depth > 1 else 0.0,
            batch_first=True,
        )
        if cell == "lstm":
            # Forget-gate bias 1.0 (Ma & Hovy 2016, section 3.1).
            for name, param in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    param.data[hidden_size : 2 * hidden_size] = 1.0
        self.width = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x (Tensor): Shape (B, T, I). lengths (Tensor): Shape (B,), on the CPU, all >= 1.
        RETURNS (Tensor): Shape (B, T, width); padding positions are 0.
        """
        rows, where = self.encode_tokens(x, lengths)
        return rows if where is None else scatter_rows(rows, where, x.shape[0], x.shape[1])

    def encode_tokens(self, x: Tensor, lengths: Tensor) -> Tuple[Tensor, Optional[Tuple[Tensor, Tensor]]]:
        """Encode without padding the output back: a layer applied per token (the
        emission scores) can then run on the real tokens only, and only its narrower
        output is padded (``scatter_rows``).

        x (Tensor): Shape (B, T, I). lengths (Tensor): Shape (B,), on the CPU, all >= 1.
        RETURNS (Tuple[Tensor, Optional[Tuple[Tensor, Tensor]]]): Without padding
            (every length is T), the output (B, T, width) and None. Otherwise the
            output of every real token, shape (N, width), and each row's (batch, time)
            index, two tensors of shape (N,).
        """
        if bool((lengths == x.shape[1]).all()):
            # No padding (e.g. one Doc at a time): packing would only add overhead.
            return self.rnn(x)[0], None
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        return out.data, packed_positions(out)


def packed_positions(packed: PackedSequence) -> Tuple[Tensor, Tensor]:
    """(batch, time) index of every row of ``packed.data``, shape (N,) each. Rows are
    time-major: at step t come the first ``batch_sizes[t]`` sequences in sorted order."""
    sizes = packed.batch_sizes
    time = torch.repeat_interleave(torch.arange(len(sizes)), sizes)
    starts = torch.cumsum(sizes, 0) - sizes
    rank = torch.arange(int(sizes.sum())) - torch.repeat_interleave(starts, sizes)
    device = packed.data.device
    rank, time = rank.to(device), time.to(device)
    batch = rank if packed.sorted_indices is None else packed.sorted_indices[rank]
    return batch, time


def scatter_rows(rows: Tensor, where: Tuple[Tensor, Tensor], B: int, T: int) -> Tensor:
    """Token rows (N, D) placed at their (batch, time) index in zeros of shape (B, T, D)."""
    padded = rows.new_zeros(B, T, rows.shape[1])
    padded[where] = rows
    return padded


class LanguageModelHead(nn.Module):
    """The auxiliary language-modelling objective of Rei (2017): the forward direction's
    state at each token predicts the next word, the backward direction's the previous
    one, each through its own tanh layer and softmax over a vocabulary of frequent
    words plus one class for all others. It trains the encoder on every token of the
    labelled data, not only through the tags; it is not used at prediction.

    hidden_size (int): Hidden units per direction of the encoder (H).
    bidirectional (bool): Whether the encoder has a backward direction to predict the
        previous word from.
    n_words (int): Vocabulary size V; class V stands for every other word.
    width (int): Width of the tanh layer (Rei: 50).
    """

    def __init__(self, hidden_size: int, bidirectional: bool, n_words: int, width: int = 50):
        super().__init__()
        self.hidden_size = hidden_size
        directions = 2 if bidirectional else 1
        self.hidden = nn.ModuleList(nn.Linear(hidden_size, width) for _ in range(directions))
        self.output = nn.ModuleList(nn.Linear(width, n_words + 1) for _ in range(directions))

    def forward(self, states: Tensor, targets: Tensor) -> Tensor:
        """states (Tensor): Encoder output of N tokens, shape (N, directions * H): the
        forward direction's units first. targets (Tensor): Word class to predict from
        each direction, shape (directions, N): the next word (forward), the previous
        word (backward); -1 where there is none.
        RETURNS (Tensor): Cross-entropy summed over the predictions, a scalar.
        """
        loss = states.new_zeros((), dtype=torch.float32)
        H = self.hidden_size
        for d, (hidden, output) in enumerate(zip(self.hidden, self.output)):
            keep = targets[d] >= 0
            h = torch.tanh(hidden(states[keep, d * H : (d + 1) * H]))
            loss = loss + F.cross_entropy(output(h).float(), targets[d][keep], reduction="sum")
        return loss


class SequenceDropout(nn.Module):
    """Variational dropout (Gal & Ghahramani 2016): one mask per sequence, shared by
    all its tokens, instead of one per token. Reimers & Gurevych (2017) found it the
    best dropout for BiLSTM-CRF taggers.

    p (float): Probability of dropping a unit.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor, batch: Optional[Tensor] = None, n_seqs: Optional[int] = None) -> Tensor:
        """x (Tensor): Padded sequences (B, T, D), or token rows (N, D) with each
        row's sequence ``batch`` (N,), one of ``n_seqs`` sequences.
        RETURNS (Tensor): x with the same units zeroed at every token of a sequence.
        """
        if batch is not None and n_seqs is None:
            raise ValueError(
                "SequenceDropout: expected n_seqs (the number of sequences) with token rows "
                "and their sequence index, got None. Pass the batch size, e.g. lengths.shape[0]."
            )
        if not self.training or self.p == 0.0:
            return x
        rows = x.shape[0] if batch is None else n_seqs
        keep = torch.empty(rows, x.shape[-1], device=x.device, dtype=x.dtype).bernoulli_(1.0 - self.p)
        mask = keep.div_(1.0 - self.p)
        return x * (mask.unsqueeze(1) if batch is None else mask[batch])


class SequenceLabelerNet(nn.Module):
    """Word features (+ character CNN) -> dropout -> recurrent encoder -> dropout ->
    linear emission scores, with the CRF's transition scores alongside.

    word_width (int): Width of the incoming word features.
    n_tags (int): Number of output tags, K.
    char_cnn (Optional[nn.Module]): Character features (``CharCNN`` or ``CharLSTM``:
        character ids (N, C) -> (N, width)), concatenated to the words.
    encoder_args (Optional[dict]): ``RNNEncoder`` arguments, or None for no encoder
        (word features straight into the output layer).
    dropout (float): Dropout on the encoder's input and output.
    use_transitions (bool): Whether to create transition scores (CRF) or not.
    variational_dropout (bool): One dropout mask per sequence (``SequenceDropout``)
        instead of one per token.
    language_model_words (int): With an encoder of one layer, add a
        ``LanguageModelHead`` over this many words (0: none).
    """

    def __init__(
        self,
        word_width: int,
        n_tags: int,
        char_cnn: Optional[nn.Module],
        encoder_args: Optional[dict],
        dropout: float,
        use_transitions: bool,
        variational_dropout: bool = False,
        language_model_words: int = 0,
    ):
        super().__init__()
        self.char_cnn = char_cnn
        width = word_width + (char_cnn.width if char_cnn is not None else 0)
        # Width of the encoder's input (words and characters): the shape of a perturbation.
        self.input_width = width
        self.variational_dropout = variational_dropout
        self.dropout = SequenceDropout(dropout) if variational_dropout else nn.Dropout(dropout)
        self.encoder = RNNEncoder(width, **encoder_args) if encoder_args is not None else None
        if self.encoder is not None:
            width = self.encoder.width
        self.emission = nn.Linear(width, n_tags)
        self.crf = LinearChainCRF(n_tags) if use_transitions else None
        self.language_model: Optional[LanguageModelHead] = None
        if language_model_words > 0:
            if encoder_args is None or encoder_args["depth"] != 1:
                # In a stacked bidirectional RNN the upper forward layer reads the lower
                # backward one, so its state already knows the next word.
                raise ValueError(
                    "The language-model objective needs a recurrent encoder of depth 1, got "
                    f"{'no encoder' if encoder_args is None else 'depth ' + str(encoder_args['depth'])}. "
                    "Set the encoder's depth = 1, or language_model = 0."
                )
            self.language_model = LanguageModelHead(
                encoder_args["hidden_size"], encoder_args["bidirectional"], language_model_words
            )

    def _char_features(self, spellings: Tensor, index: Tensor) -> Tensor:
        """Character features of tokens given as rows of ``spellings``.

        spellings (Tensor): Character ids of the distinct spellings, shape (U, C).
        index (Tensor): Row of each token, shape (N,).
        RETURNS (Tensor): Shape (N, width). At prediction time the module runs once per
            spelling; in training once per token, so that each occurrence gets its
            own dropout mask.
        """
        if self.training:
            return self.char_cnn(spellings[index])
        return self.char_cnn(spellings)[index]

    def forward(
        self,
        words: Tensor,
        spellings: Optional[Tensor],
        char_index: Optional[Tensor],
        lengths: Tensor,
        perturbation: Optional[Tensor] = None,
        lm_targets: Optional[Tensor] = None,
    ) -> Tuple[Tensor, ...]:
        """words (Tensor): Shape (B, T, W). spellings (Optional[Tensor]): character ids
        of the batch's distinct spellings, shape (U, C). char_index (Optional[Tensor]):
        each token's row of ``spellings``, shape (B, T), -1 on padding. lengths
        (Tensor): Shape (B,), on the CPU. perturbation (Optional[Tensor]): Added to
        the encoder's input (words and character features concatenated) before
        dropout, shape (B, T, input_width): adversarial training's perturbation, or
        zeros that require grad to read the loss's gradient at that input.
        lm_targets (Optional[Tensor]): With a language-model head, the word class
        each direction predicts at each token, shape (directions, B, T), -1 where none.

        RETURNS (Tuple[Tensor, ...]): emissions (B, T, K; 0 at padding with an
            encoder), then transitions (K, K), start (K,) and end (K,) when the net
            has a CRF; with ``lm_targets``, last, the language-model loss (a scalar).
        """
        x = words
        if self.char_cnn is not None:
            if spellings is None or char_index is None:
                raise ValueError("Expected character ids for the character CNN, got None.")
            real = char_index >= 0
            char_feats = x.new_zeros(*char_index.shape, self.char_cnn.width)
            char_feats[real] = self._char_features(spellings, char_index[real]).to(x.dtype)
            x = torch.cat([x, char_feats], dim=2)
        if perturbation is not None:
            x = x + perturbation.to(x.dtype)
        x = self.dropout(x)
        if self.encoder is None:
            emissions = self.emission(x)
        else:
            rows, where = self.encoder.encode_tokens(x, lengths)
            if self.variational_dropout and where is not None:
                rows = self.dropout(rows, where[0], x.shape[0])
            else:
                rows = self.dropout(rows)
            emissions = self.emission(rows)
            if where is not None:
                emissions = scatter_rows(emissions, where, x.shape[0], x.shape[1])
        outputs = (emissions,) if self.crf is None else (emissions, *self.crf())
        if lm_targets is None:
            return outputs
        if self.language_model is None:
            raise ValueError("Expected a network with a language-model head for lm_targets, got none.")
        if where is None:
            rows, targets = rows.flatten(0, 1), lm_targets.flatten(1, 2)
        else:
            targets = lm_targets[:, where[0], where[1]]
        return (*outputs, self.language_model(rows, targets))
