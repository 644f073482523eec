"""The network and the featurisation: shortcuts at prediction time change nothing
but speed."""
import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc

from spacy_crf_tagger.models.featurize import batch_char_ids, spelling_char_ids
from spacy_crf_tagger.models.pytorch.net import CharCNN, CharLSTM, SequenceDropout, SequenceLabelerNet
from spacy_crf_tagger.models.settings import build_char_lstm_v1


def test_char_features_per_spelling_equal_per_token():
    net = SequenceLabelerNet(4, 3, CharCNN(50, 5, 6, 3, dropout=0.5), None, dropout=0.5, use_transitions=True)
    g = torch.Generator().manual_seed(0)
    spellings = torch.randint(1, 50, (5, 7), generator=g)
    spellings[:, 5:] = 0  # padding characters
    index = torch.randint(0, 5, (40,), generator=g)  # repeated tokens
    net.eval()
    with torch.no_grad():
        assert torch.allclose(net._char_features(spellings, index), net.char_cnn(spellings[index]), atol=1e-6)


def test_char_lstm_reads_each_word_alone_whatever_the_padding():
    torch.manual_seed(0)
    lstm = CharLSTM(50, 5, 4, dropout=0.5).eval()
    words = [[3, 9, 12], [7], [4, 4, 8, 20, 30, 1]]
    padded = torch.zeros(len(words) + 1, 8, dtype=torch.long)  # the last row has no characters
    for row, chars in enumerate(words):
        padded[row, : len(chars)] = torch.tensor(chars)
    with torch.no_grad():
        batched = lstm(padded)
        assert batched.shape == (4, 8)
        for row, chars in enumerate(words):
            _, (h, _) = lstm.lstm(lstm.embed(torch.tensor([chars])))
            # forward state after the last character, backward state after the first
            assert torch.allclose(batched[row], torch.cat([h[0, 0], h[1, 0]]), atol=1e-6)
        assert torch.all(batched[3] == 0.0)


def test_char_cnn_boundaries_mark_each_word_and_tell_a_suffix_from_the_middle():
    cnn = CharCNN(50, 4, 1, 3, dropout=0.0, boundaries=True).eval()
    chars = torch.tensor([[3, 4, 5, 0], [7, 0, 0, 0], [0, 0, 0, 0], [1, 2, 3, 4]])
    assert cnn.add_boundaries(chars).tolist() == [
        [50, 3, 4, 5, 51, 0],
        [50, 7, 51, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],  # no characters: no markers either
        [50, 1, 2, 3, 4, 51],
    ]
    assert cnn.embed.num_embeddings == 52
    # One filter that fires only on (character 9, end of word): it finds the
    # suffix of [8, 9] but not the same character inside [9, 8].
    with torch.no_grad():
        cnn.embed.weight.zero_()
        cnn.embed.weight[9, 0] = 1.0
        cnn.embed.weight[cnn.end, 1] = 1.0
        cnn.conv.weight.zero_()
        cnn.conv.bias.zero_()
        cnn.conv.weight[0, 0, 1] = 1.0  # centre of the window: character 9
        cnn.conv.weight[0, 1, 2] = 1.0  # next position: the end marker
        out = cnn(torch.tensor([[8, 9], [9, 8], [0, 0]]))
    assert out[:, 0].tolist() == [2.0, 1.0, 0.0]


def test_char_cnn_without_boundaries_saves_the_settings_older_models_have():
    from spacy_crf_tagger.models.settings import build_char_cnn_v1

    assert "boundaries" not in build_char_cnn_v1().to_dict()
    assert build_char_cnn_v1(boundaries=True).to_dict()["boundaries"] is True
    assert CharCNN(50, 4, 6, 3, dropout=0.0).embed.num_embeddings == 50


@pytest.mark.parametrize(
    "args,message",
    [
        ({"hidden_size": 0}, "CharLSTM: expected hidden_size >= 1, got 0"),
        ({"rows": 1}, r"CharLSTM: expected rows >= 2 \(row 0 is padding\), got 1"),
        ({"dropout": 1.0}, "CharLSTM: expected 0 <= dropout < 1, got 1.0"),
    ],
)
def test_char_lstm_settings_errors(args, message):
    with pytest.raises(ValueError, match=message):
        build_char_lstm_v1(**args)


def test_batch_char_ids():
    vocab = spacy.blank("en").vocab
    docs = [Doc(vocab, words=["the", "cat", "the"]), Doc(vocab, words=["the"]), Doc(vocab, words=["ok", "x" * 30])]
    spellings, index = batch_char_ids(docs, max_chars=8, rows=100)
    assert index.shape == (3, 3) and spellings.shape == (4, 8)  # the, cat, ok, xxx...
    assert index[1, 1:].tolist() == [-1, -1]
    for doc, rows in zip(docs, index):
        for token, row in zip(doc, rows):
            assert spellings[row].tolist() == spelling_char_ids(token.text, 8, 100).tolist()
    assert index[0, 0] == index[0, 2] == index[1, 0]
    # long spellings: first and last 4 characters
    long_ids = spelling_char_ids("abcdefghijkl", 8, 1000)
    assert long_ids.tolist() == [1 + ord(c) % 999 for c in "abcdijkl"]
    assert spelling_char_ids("ab", 8, 1000)[2:].tolist() == [0] * 6
    spellings, index = batch_char_ids([], 8, 100)
    assert spellings.shape == (0, 8) and index.shape == (0, 0)
    assert numpy.all(spelling_char_ids("\U0001F600", 4, 10)[:1] >= 1)


def test_encoder_gives_the_same_output_with_and_without_padding():
    from spacy_crf_tagger.models.pytorch.net import RNNEncoder

    torch.manual_seed(0)
    encoder = RNNEncoder(5, "lstm", 4, depth=2, bidirectional=True, dropout=0.0).eval()
    x = torch.randn(2, 6, 5)
    # Unpadded batch (the unpacked path) against the same rows in a padded batch.
    alone = encoder(x, torch.tensor([6, 6]))
    longer = torch.cat([x, torch.zeros(2, 3, 5)], dim=1)
    padded = encoder(torch.cat([longer, torch.randn(1, 9, 5)]), torch.tensor([6, 6, 9]))
    assert torch.allclose(alone, padded[:2, :6], atol=1e-6)
    assert torch.all(padded[:2, 6:] == 0.0)


def test_packed_rows_scattered_back_equal_pad_packed_sequence():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from spacy_crf_tagger.models.pytorch.net import packed_positions, scatter_rows

    lengths = torch.tensor([3, 7, 1, 7, 5])
    x = torch.randn(5, 7, 2)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(packed, batch_first=True, total_length=7)
    assert torch.equal(scatter_rows(packed.data, packed_positions(packed), 5, 7), expected)


def test_variational_dropout_on_rows_says_it_needs_the_number_of_sequences():
    with pytest.raises(ValueError, match=r"SequenceDropout: expected n_seqs .* got None"):
        SequenceDropout(0.5)(torch.ones(3, 4), torch.tensor([0, 1, 1]))


def test_variational_dropout_drops_the_same_units_at_every_token_of_a_sequence():
    torch.manual_seed(0)
    dropout = SequenceDropout(0.5)
    x = torch.ones(3, 7, 64)
    y = dropout(x)
    assert set(y.unique().tolist()) <= {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    assert torch.equal(y, y[:, :1].expand_as(y))  # one mask per sequence
    assert not torch.equal(y[0], y[1])  # ... and sequences get their own
    # Token rows with their sequence index: the mask follows the sequence.
    batch = torch.tensor([2, 0, 2, 1, 0, 2])
    rows = dropout(torch.ones(6, 64), batch, 3)
    for seq in range(3):
        same = rows[batch == seq]
        assert torch.equal(same, same[:1].expand_as(same))
    dropout.eval()
    assert torch.equal(dropout(x), x)
    assert torch.equal(SequenceDropout(0.0).train()(x), x)


def test_variational_dropout_net_masks_per_sequence_in_training_only():
    torch.manual_seed(0)
    net = SequenceLabelerNet(
        8, 3, None, {"cell": "lstm", "hidden_size": 4, "depth": 1, "bidirectional": True, "dropout": 0.0},
        dropout=0.5, use_transitions=True, variational_dropout=True,
    )
    words, lengths = torch.randn(3, 5, 8), torch.tensor([5, 2, 4])
    net.train()
    emissions = net(words, None, None, lengths)[0]
    assert emissions.shape == (3, 5, 3) and torch.all(emissions[1, 2:] == 0.0)
    emissions.sum().backward()
    assert all(p.grad is not None for p in net.encoder.parameters())
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(words, None, None, lengths)[0], net(words, None, None, lengths)[0])


def test_perturbation_is_added_to_the_words_and_characters_before_the_encoder():
    torch.manual_seed(0)
    encoder = {"cell": "lstm", "hidden_size": 5, "depth": 1, "bidirectional": True, "dropout": 0.0}
    net = SequenceLabelerNet(4, 3, CharCNN(50, 5, 6, 3, dropout=0.0), encoder, dropout=0.0, use_transitions=True)
    net.eval()
    assert net.input_width == 4 + 6
    words = torch.randn(2, 3, 4)
    spellings = torch.randint(1, 50, (4, 5))
    char_index = torch.tensor([[0, 1, 2], [3, 0, -1]])
    lengths = torch.tensor([3, 2])
    perturbation = torch.randn(2, 3, net.input_width)
    perturbation[1, 2] = 0.0
    with torch.no_grad():
        got = net(words, spellings, char_index, lengths, perturbation=perturbation)[0]
        chars = torch.zeros(2, 3, 6)
        chars[char_index >= 0] = net.char_cnn(spellings)[char_index[char_index >= 0]]
        x = torch.cat([words, chars], dim=2) + perturbation
        rows = net.encoder(x, lengths)
        want = net.emission(rows)
        assert torch.allclose(got[0], want[0], atol=1e-5)
        assert torch.allclose(got[1, :2], want[1, :2], atol=1e-5)
        # Without a perturbation the output differs: it was not ignored.
        plain = net(words, spellings, char_index, lengths)[0]
        assert not torch.allclose(plain[0], got[0], atol=1e-3)
