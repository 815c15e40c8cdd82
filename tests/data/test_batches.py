"""Batches: padded sequences, bucketing, LM streams, windows, splits, labels."""

from __future__ import annotations

import io
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader

from rnnkit.data.batches import (
    BucketBatchSampler,
    EpochShuffle,
    LabelEncoder,
    SequenceDataset,
    batchify,
    fit_sequence_scaler,
    pad_collate,
    padding_fraction,
    padding_report,
    plain_batches,
    scale_sequences,
    shard_streams,
    shuffled_loader,
    split_indices,
)
from rnnkit.errors import DataError, UserError

# ----------------------------------------------------------------------------- padding


def test_pad_collate_pads_and_reports_lengths() -> None:
    dataset = SequenceDataset([[5, 6, 7], [8], [9, 10]], [1, 0, 1])
    padded, lengths, labels = pad_collate([dataset[i] for i in range(3)], padding_value=0)
    assert padded.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert padded.dtype == torch.long
    assert lengths.tolist() == [3, 1, 2] and labels.tolist() == [1, 0, 1]


@pytest.mark.parametrize(("side", "expected"), [("tail", [1, 2, 3]), ("head", [3, 4, 5])])
def test_truncation_side(side: str, expected: list[int]) -> None:
    dataset = SequenceDataset([[1, 2, 3, 4, 5], [6]], [0, 1], max_length=3, truncate=side)
    assert dataset[0][0].tolist() == expected
    assert dataset[1][0].tolist() == [6]
    assert dataset.lengths() == [3, 1]


def test_sequence_dataset_errors() -> None:
    with pytest.raises(DataError, match="sequence 1 is empty"):
        SequenceDataset([[1], []], [0, 1])
    with pytest.raises(DataError, match="3 sequences but 2 labels"):
        SequenceDataset([[1], [2], [3]], [0, 1])
    with pytest.raises(UserError, match="truncate side 'middle' is not one of head, tail"):
        SequenceDataset([[1]], [0], truncate="middle")
    with pytest.raises(DataError, match="values such as 'pos'; encode names with LabelEncoder"):
        SequenceDataset([[1]], ["pos"])


def test_label_dtypes() -> None:
    assert SequenceDataset([[1]], [1])[0][1].dtype == torch.long
    assert SequenceDataset([[1]], [0.5])[0][1].dtype == torch.float32


def test_padded_batch_through_lstm_matches_each_sequence_alone() -> None:
    torch.manual_seed(0)
    sequences = [np.random.default_rng(i).normal(size=(n, 4)) for i, n in enumerate([5, 2, 7])]
    dataset = SequenceDataset(sequences, [0, 1, 0])
    loader = DataLoader(dataset, batch_size=3, collate_fn=pad_collate)
    padded, lengths, _ = next(iter(loader))
    assert padded.shape == (3, 7, 4) and padded.dtype == torch.float32
    lstm = torch.nn.LSTM(4, 6, batch_first=True)
    packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    _, (h_n, _) = lstm(packed)
    for i, sequence in enumerate(sequences):
        _, (alone, _) = lstm(torch.as_tensor(sequence, dtype=torch.float32)[None])
        torch.testing.assert_close(h_n[0, i], alone[0, 0])


# ----------------------------------------------------------------------------- bucketing


def test_bucket_sampler_covers_every_index_once_and_is_seeded() -> None:
    lengths = np.random.default_rng(0).integers(1, 200, size=1003)
    sampler = BucketBatchSampler(lengths, batch_size=32, shuffle=True, seed=7)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 32  # ceil(1003 / 32)
    assert sorted(i for b in batches for i in b) == list(range(1003))
    assert batches == list(BucketBatchSampler(lengths, 32, shuffle=True, seed=7))
    sampler.set_epoch(1)
    assert list(sampler) != batches  # a new order each epoch
    assert list(BucketBatchSampler(lengths, 32, shuffle=True, seed=8)) != batches


def test_bucketing_cuts_padding() -> None:
    lengths = np.random.default_rng(1).integers(5, 400, size=2000)
    bucketed = list(BucketBatchSampler(lengths, batch_size=32, seed=0))
    plain = plain_batches(len(lengths), 32, seed=0)
    with_buckets, without = padding_fraction(lengths, bucketed), padding_fraction(lengths, plain)
    assert without > 0.4  # uniform lengths: about half of a random batch is padding
    assert with_buckets < 0.05
    assert padding_fraction([2, 4, 4], [[0, 1], [2]]) == pytest.approx(2 / 12)
    assert padding_report(lengths, 32, seed=0) == {"bucketed": with_buckets, "unbucketed": without}


def test_bucket_sampler_drop_last_and_sorted_order() -> None:
    lengths = [5, 1, 4, 2, 3]
    sampler = BucketBatchSampler(lengths, batch_size=2, shuffle=False, drop_last=True)
    assert list(sampler) == [[1, 3], [4, 2]] and len(sampler) == 2


def test_bucket_sampler_ranks_get_disjoint_equal_shares() -> None:
    lengths = np.arange(1, 101)
    shares = [
        list(BucketBatchSampler(lengths, 8, seed=3, num_replicas=3, rank=r)) for r in range(3)
    ]
    assert [len(s) for s in shares] == [5, 5, 5]  # 13 batches padded to 15 by repetition
    seen = [i for share in shares for batch in share for i in batch]
    assert set(seen) == set(range(100))
    with pytest.raises(UserError, match=r"rank 3 is not in 0\.\.2"):
        BucketBatchSampler(lengths, 8, num_replicas=3, rank=3)


# ----------------------------------------------------------------------------- LM streams


def test_epoch_shuffle_gives_each_epoch_the_order_a_seeded_loader_gives() -> None:
    # A seeded DataLoader shuffles differently every epoch from one generator; the
    # sampler gives epoch e's order from the seed alone, so a resumed run can restart
    # at any epoch.
    dataset = list(range(37))
    loader = DataLoader(
        dataset, batch_size=37, shuffle=True, generator=torch.Generator().manual_seed(5)
    )
    sampler = EpochShuffle(37, seed=5)
    orders = []
    for epoch in range(4):
        (expected,) = [batch.tolist() for batch in loader]
        sampler.set_epoch(epoch)
        assert list(sampler) == expected
        orders.append(expected)
    assert sorted(orders[0]) == dataset and len({tuple(o) for o in orders}) == 4
    sampler.set_epoch(2)
    assert list(sampler) == orders[2]  # asked again, out of order: the same answer


def test_shuffled_loader_leaves_the_global_generator_alone() -> None:
    loader = shuffled_loader(list(range(10)), 3, seed=1)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    batches = [b.tolist() for b in loader]
    assert torch.equal(torch.rand(3), expected)  # dropout draws what it would have drawn
    assert sorted(i for batch in batches for i in batch) == list(range(10))


def test_batchify_by_hand() -> None:
    # The classic layout: 26 letters, 4 streams, the last 2 dropped.
    streams = batchify(list(range(26)), 4)
    assert streams.shape == (6, 4) and streams.dtype == torch.long
    assert streams[:, 1].tolist() == [6, 7, 8, 9, 10, 11]
    assert streams[0].tolist() == [0, 6, 12, 18]
    with pytest.raises(UserError, match="a stream of 5 tokens is too short for batch_size=4"):
        batchify(range(5), 4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=2, max_size=200), st.integers(1, 10))
def test_batchify_property(ids: list[int], batch_size: int) -> None:
    steps = len(ids) // batch_size
    if steps < 2:
        with pytest.raises(UserError):
            batchify(ids, batch_size)
        return
    streams = batchify(np.asarray(ids), batch_size)
    assert streams.shape == (steps, batch_size)
    for j in range(batch_size):
        assert streams[:, j].tolist() == ids[j * steps : (j + 1) * steps]


def test_shard_streams_gives_each_rank_its_own_streams() -> None:
    ids = torch.arange(1000)
    shards = [shard_streams(ids, 3, rank, 4) for rank in range(4)]
    assert all(s.shape == (83, 3) for s in shards)  # 1000 // 12 steps
    assert torch.equal(torch.cat(shards, dim=1), batchify(ids, 12))
    tokens = [set(s.flatten().tolist()) for s in shards]
    assert all(not (tokens[a] & tokens[b]) for a in range(4) for b in range(a + 1, 4))
    with pytest.raises(UserError, match=r"rank 4 is not in 0\.\.3"):
        shard_streams(ids, 3, 4, 4)


# ----------------------------------------------------------------------------- windows


def test_multichannel_scaling_fitted_on_train_then_padded() -> None:
    rng = np.random.default_rng(0)
    train = [rng.normal(loc=[5, -3], scale=[2, 0.5], size=(n, 2)) for n in (30, 50, 20)]
    scaler = fit_sequence_scaler(train, "standard")
    scaled = scale_sequences(train, scaler)
    stacked = np.concatenate(scaled)
    np.testing.assert_allclose(stacked.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(stacked.std(0), 1, atol=1e-5)
    padded, lengths, _ = pad_collate([(torch.as_tensor(s), torch.tensor(0)) for s in scaled])
    assert padded.shape == (3, 50, 2) and lengths.tolist() == [30, 50, 20]
    assert padded[2, 20:].abs().sum() == 0
    with pytest.raises(DataError, match="must all be"):
        fit_sequence_scaler([np.zeros((3, 2)), np.zeros((3, 4))])


@pytest.mark.data
def test_indoor_movement_sequences(mirror: Path) -> None:
    with zipfile.ZipFile(mirror / "timeseries" / "IndoorMovement.zip") as archive:
        sequences = [
            np.loadtxt(io.BytesIO(archive.read(f"dataset/MovementAAL_RSS_{i}.csv")), delimiter=",")
            for i in range(1, 315)
        ]
        targets = np.loadtxt(
            io.BytesIO(archive.read("dataset/MovementAAL_target.csv")), delimiter=",", skiprows=1
        )[:, 1].astype(int)
    assert len(sequences) == 314 and {s.shape[1] for s in sequences} == {4}
    parts = split_indices(314, valid=0.1, test=0.1, seed=0, stratify=targets)
    scaler = fit_sequence_scaler([sequences[i] for i in parts["train"]])
    dataset = SequenceDataset(scale_sequences(sequences, scaler), targets)
    sampler = BucketBatchSampler(dataset.lengths(), 16, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=partial(pad_collate))
    padded, lengths, labels = next(iter(loader))
    assert padded.shape[2] == 4 and padded.shape[1] == lengths.max()
    assert set(labels.tolist()) <= {-1, 1}


# ----------------------------------------------------------------------------- splits


def test_split_indices_partition_and_seed() -> None:
    parts = split_indices(1000, valid=0.1, test=0.2, seed=1)
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [700, 100, 200]
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(1000))
    again = split_indices(1000, valid=0.1, test=0.2, seed=1)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    other = split_indices(1000, valid=0.1, test=0.2, seed=2)
    assert not np.array_equal(parts["test"], other["test"])


def test_split_indices_stratified_keeps_every_class() -> None:
    labels = np.array(["a"] * 90 + ["b"] * 7 + ["c"] * 3)
    parts = split_indices(100, valid=0.1, test=0.1, seed=0, stratify=labels)
    for name in ("train", "valid", "test"):
        assert set(labels[parts[name]]) == {"a", "b", "c"}
    assert (labels[parts["test"]] == "a").sum() == 9
    with pytest.raises(DataError, match="the label column has only one class \\('a'\\)"):
        split_indices(5, stratify=["a"] * 5)
    # A pandas text column comes as an object array of Python strings (it crashed here).
    with pytest.raises(DataError, match="the label column has only one class \\('pos'\\)"):
        split_indices(5, stratify=np.array(["pos"] * 5, dtype=object))


def test_split_indices_by_groups() -> None:
    groups = np.repeat(np.arange(20), 10)  # 20 speakers, 10 recordings each
    parts = split_indices(200, valid=0.1, test=0.2, seed=0, groups=groups)
    owners = [set(groups[parts[k]]) for k in ("train", "valid", "test")]
    assert all(not (owners[a] & owners[b]) for a in range(3) for b in range(a + 1, 3))
    assert [len(o) for o in owners] == [14, 2, 4]
    with pytest.raises(UserError, match=r"valid=0\.6, test=0\.5 must be in \[0, 1\) and sum"):
        split_indices(10, valid=0.6, test=0.5)


def test_label_encoder() -> None:
    encoder = LabelEncoder.fit(["pos", "neg", "pos"])
    assert encoder.classes == ["neg", "pos"] and encoder.encode(["pos", "neg"]) == [1, 0]
    assert LabelEncoder.from_json(encoder.to_json()).decode([0, 1]) == ["neg", "pos"]
    with pytest.raises(DataError, match="label 'meh' \\(row 2\\) is not one of the training"):
        encoder.encode(["pos", "meh"])
    with pytest.raises(DataError, match="label column 'sentiment' has 1 class \\(pos\\)"):
        LabelEncoder.fit(["pos", "pos"], column="sentiment")
