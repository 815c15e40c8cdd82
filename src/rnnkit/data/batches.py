"""Datasets, samplers and collate functions that turn preprocessed data into batches.

Classification: :class:`SequenceDataset` + :func:`pad_collate` give padded batches
with lengths (for ``rnnkit.nn``'s ``lengths=``); :class:`BucketBatchSampler` groups
sequences of similar length so that less of each batch is padding.

Language modelling: :func:`batchify` lays a token stream out as B contiguous columns
and :func:`shard_streams` gives each process its columns; the language-model task cuts
them into truncated-BPTT chunks in order (``StreamChunks``), so that the hidden state
is carried from one chunk to the next.

Unsplit datasets: :func:`split_indices` (stratified or by groups).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, Sampler

from rnnkit.errors import DataError, UserError

if TYPE_CHECKING:  # timeseries imports pandas, which text and label inference never need
    from rnnkit.data.timeseries import Scaler

TRUNCATE_SIDES = ("head", "tail")

# ----------------------------------------------------------------------------- labels


class LabelEncoder:
    """Class names <-> ids 0..C-1 in sorted order; fitted on the training labels."""

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = [str(c) for c in classes]
        self.index = {name: i for i, name in enumerate(self.classes)}

    @classmethod
    def fit(cls, labels: Sequence[Any], column: str = "label") -> LabelEncoder:
        classes = sorted({str(label) for label in labels})
        if len(classes) < 2:
            found = classes[0] if classes else "none"
            raise DataError(
                f"label column {column!r} has {len(classes)} class ({found}); "
                "classification needs at least 2"
            )
        return cls(classes)

    def encode(self, labels: Sequence[Any]) -> list[int]:
        ids = []
        for row, label in enumerate(labels):
            key = str(label)
            if key not in self.index:
                raise DataError(
                    f"label {label!r} (row {row + 1}) is not one of the training classes "
                    f"{self.classes}"
                )
            ids.append(self.index[key])
        return ids

    def decode(self, ids: Sequence[int]) -> list[str]:
        return [self.classes[int(i)] for i in ids]

    def __len__(self) -> int:
        return len(self.classes)

    def to_json(self) -> dict[str, Any]:
        return {"type": "labels", "classes": self.classes}

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "the label list") -> LabelEncoder:
        """The encoder saved by :meth:`to_json`, checked: at least two distinct class
        names, each a string (``source`` names the file in the messages)."""
        if not isinstance(data, dict) or data.get("type") != "labels":
            raise DataError(f"{source}: not an rnnkit label list (no 'type': 'labels')")
        classes = data.get("classes")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise DataError(
                f"{source}: 'classes' must be a list of class names (strings), not "
                f"{str(classes)[:80]}; the file is damaged"
            )
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise DataError(
                f"{source}: 'classes' must name at least two distinct classes, not "
                f"{classes[:10]}; the file is damaged"
            )
        return cls(classes)


# ----------------------------------------------------------------------------- classification


def truncate(sequence: Any, max_length: int | None, side: str = "tail") -> Any:
    """Cut a sequence to ``max_length`` steps; ``side`` is the end that loses steps."""
    if side not in TRUNCATE_SIDES:
        raise UserError(f"truncate side {side!r} is not one of {', '.join(TRUNCATE_SIDES)}")
    if max_length is None or len(sequence) <= max_length:
        return sequence
    return sequence[:max_length] if side == "tail" else sequence[len(sequence) - max_length :]


class SequenceDataset(Dataset):
    """Variable-length sequences with one label each.

    ``sequences`` are token-id lists (1-D) or arrays of shape (T, F) (multichannel);
    ``labels`` are class ids (int) or regression targets (float). Sequences longer than
    ``max_length`` lose their ``truncate`` end ("tail" keeps the beginning).
    """

    def __init__(
        self,
        sequences: Sequence[Sequence[int]] | Sequence[np.ndarray],
        labels: Sequence[int] | Sequence[float] | np.ndarray,
        *,
        max_length: int | None = None,
        truncate: str = "tail",
    ) -> None:
        if len(sequences) != len(labels):
            raise DataError(f"{len(sequences)} sequences but {len(labels)} labels")
        if truncate not in TRUNCATE_SIDES:
            raise UserError(f"truncate side {truncate!r} is not one of {', '.join(TRUNCATE_SIDES)}")
        if max_length is not None and max_length < 1:
            raise UserError(f"max_length must be at least 1, got {max_length}")
        for i, sequence in enumerate(sequences):
            if len(sequence) == 0:
                raise DataError(f"sequence {i} is empty; every sequence needs at least one step")
        label_array = np.asarray(labels)
        if label_array.dtype.kind in "iub":
            label_array = label_array.astype(np.int64)
        elif label_array.dtype.kind == "f":
            label_array = label_array.astype(np.float32)
        else:
            raise DataError(
                "labels must be class ids or numbers, got values such as "
                f"{label_array.ravel()[:1].tolist()[0]!r}; encode names with LabelEncoder first"
            )
        self.sequences = sequences
        self.labels = label_array
        self.max_length = max_length
        self.truncate = truncate

    def __len__(self) -> int:
        return len(self.sequences)

    def lengths(self) -> list[int]:
        """Lengths after truncation (what a bucketing sampler sorts by)."""
        cap = self.max_length or math.inf
        return [int(min(len(s), cap)) for s in self.sequences]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sequence = truncate(self.sequences[index], self.max_length, self.truncate)
        array = np.asarray(sequence)
        tensor = torch.as_tensor(array, dtype=torch.long if array.ndim == 1 else torch.float32)
        return tensor, torch.as_tensor(self.labels[index])


def pad_collate(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]], padding_value: float = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack (sequence, label) pairs into ``(padded, lengths, labels)``.

    padded is (B, T) for token ids or (B, T, F) for multichannel steps, T the longest
    sequence in the batch; lengths (B,) int64 on the CPU, as ``pack_padded_sequence``
    wants them. Use ``functools.partial(pad_collate, padding_value=vocab.pad_id)``.
    """
    sequences = [sequence for sequence, _ in batch]
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)  # (B,)
    padded = pad_sequence(sequences, batch_first=True, padding_value=padding_value)
    labels = torch.stack([label for _, label in batch])  # (B,)
    return padded, lengths, labels


class EpochShuffle(Sampler[int]):
    """A random order of ``range(size)`` that depends only on ``seed`` and the epoch.

    Lightning tells it the epoch (:meth:`set_epoch`) before each one, so a run resumed
    from a checkpoint shuffles its later epochs exactly as the uninterrupted run did; a
    DataLoader's own shuffling draws from one generator that a checkpoint does not hold.
    Epoch ``e`` gives the order that ``DataLoader(shuffle=True, generator=
    torch.Generator().manual_seed(seed))`` gives in its ``e``-th epoch (counting from
    0): that loader draws a 64-bit seed for its workers and then permutations from the
    one generator every epoch, and these draws are replayed from the seed.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        # A generator, drawn at the first batch (see BucketBatchSampler.__iter__).
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.epoch):
            torch.empty((), dtype=torch.int64).random_(generator=generator)
            # torch's RandomSampler draws a second, empty-sliced permutation once it
            # has served a whole one.
            torch.randperm(self.size, generator=generator)
            torch.randperm(self.size, generator=generator)
        torch.empty((), dtype=torch.int64).random_(generator=generator)
        yield from torch.randperm(self.size, generator=generator).tolist()


def shuffled_loader(
    dataset: Dataset,
    batch_size: int,
    seed: int,
    *,
    collate_fn: Any = None,
    num_workers: int = 0,
) -> DataLoader:
    """Training batches of ``dataset`` in :class:`EpochShuffle`'s order."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochShuffle(len(dataset), seed),  # type: ignore[arg-type]
        collate_fn=collate_fn,
        num_workers=num_workers,
        # The loader draws its workers' seed from this, not from torch's global
        # generator (which dropout draws from).
        generator=torch.Generator().manual_seed(seed),
    )


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of indices whose sequences have similar lengths.

    Each epoch the indices are shuffled, cut into pools of ``batch_size *
    pool_batches``, each pool sorted by length and cut into batches, and the batches
    shuffled; so batches hold similar lengths but still differ from epoch to epoch.
    Without ``shuffle`` all indices are sorted by length. The order depends only on
    ``seed`` and the epoch (:meth:`set_epoch`). With ``num_replicas``/``rank`` each
    data-parallel rank takes every num_replicas-th batch, and all ranks get the same
    number of batches (a few are repeated) so that they step together.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        *,
        pool_batches: int = 50,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        num_replicas = 1 if num_replicas is None else num_replicas
        rank = 0 if rank is None else rank
        if not 0 <= rank < num_replicas:
            raise UserError(f"rank {rank} is not in 0..{num_replicas - 1}")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.pool_batches = pool_batches
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _all_batches(self) -> list[list[int]]:
        generator = np.random.default_rng([self.seed, self.epoch])
        if self.shuffle:
            order = generator.permutation(len(self.lengths))
            pool = self.batch_size * self.pool_batches
            pools = [order[i : i + pool] for i in range(0, len(order), pool)]
            # A stable sort of shuffled indices breaks length ties at random.
            order = np.concatenate(
                [p[np.argsort(self.lengths[p], kind="stable")] for p in pools] or [order]
            )
        else:
            order = np.argsort(self.lengths, kind="stable")
        batches = [
            order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)
        ]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in generator.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        # A generator, so the order is drawn at the first batch, not when the loader's
        # iterator is made: Lightning makes the first epoch's iterator before it sets the
        # epoch, and a resumed run would get epoch 1's order.
        batches = self._all_batches()
        if self.num_replicas > 1 and batches:
            per_rank = math.ceil(len(batches) / self.num_replicas)
            total = per_rank * self.num_replicas
            batches = (batches * math.ceil(total / len(batches)))[:total]
            batches = batches[self.rank :: self.num_replicas]
        yield from batches

    def __len__(self) -> int:
        count = len(self.lengths) // self.batch_size
        if not self.drop_last and len(self.lengths) % self.batch_size:
            count += 1
        return math.ceil(count / self.num_replicas)


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of the padded (B, T) cells that are padding, over all batches."""
    lengths_array = np.asarray(lengths)
    cells = padded = 0
    for batch in batches:
        batch_lengths = lengths_array[list(batch)]
        if batch_lengths.size == 0:
            continue
        cells += int(batch_lengths.max()) * len(batch_lengths)
        padded += int(batch_lengths.max()) * len(batch_lengths) - int(batch_lengths.sum())
    return padded / cells if cells else 0.0


def plain_batches(
    count: int, batch_size: int, *, shuffle: bool = True, seed: int = 0
) -> list[list[int]]:
    """Index batches without bucketing (what a plain shuffling DataLoader draws)."""
    order = np.random.default_rng(seed).permutation(count) if shuffle else np.arange(count)
    return [order[i : i + batch_size].tolist() for i in range(0, count, batch_size)]


def padding_report(
    lengths: Sequence[int], batch_size: int, *, seed: int = 0, pool_batches: int = 50
) -> dict[str, float]:
    """Padding fraction of one epoch with and without :class:`BucketBatchSampler`."""
    bucketed = BucketBatchSampler(lengths, batch_size, seed=seed, pool_batches=pool_batches)
    return {
        "bucketed": padding_fraction(lengths, list(bucketed)),
        "unbucketed": padding_fraction(lengths, plain_batches(len(lengths), batch_size, seed=seed)),
    }


# ----------------------------------------------------------------------------- multichannel


def fit_sequence_scaler(sequences: Sequence[np.ndarray], name: str = "standard") -> Scaler:
    """A per-channel scaler fitted on all steps of the (training) sequences (T_i, F)."""
    if not sequences:
        raise DataError("cannot fit a scaler on no sequences")
    widths = {np.shape(s)[-1] if np.ndim(s) == 2 else None for s in sequences}
    if len(widths) != 1 or None in widths:
        raise DataError(f"multichannel sequences must all be (T, F) with one F; got F in {widths}")
    from rnnkit.data.timeseries import make_scaler

    return make_scaler(name).fit(np.concatenate([np.asarray(s) for s in sequences]))


def scale_sequences(sequences: Sequence[np.ndarray], scaler: Scaler) -> list[np.ndarray]:
    """Every (T_i, F) sequence scaled per channel, as float32."""
    return [scaler.transform(np.asarray(s, dtype=np.float32)) for s in sequences]


# ----------------------------------------------------------------------------- forecasting


def batchify(ids: Sequence[int] | np.ndarray | torch.Tensor, batch_size: int) -> torch.Tensor:
    """Lay a token stream out as ``batch_size`` contiguous streams: a (T, B) LongTensor.

    Column j holds tokens ``[j*T, (j+1)*T)`` of the stream, T = len(ids) // B; the
    remainder is dropped. Reading rows top to bottom continues every stream, which is
    what lets truncated BPTT carry the hidden state from chunk to chunk.
    """
    if batch_size < 1:
        raise UserError(f"batch_size must be at least 1, got {batch_size}")
    stream = torch.as_tensor(np.asarray(ids), dtype=torch.long).reshape(-1)
    steps = stream.numel() // batch_size
    if steps < 2:
        raise UserError(
            f"a stream of {stream.numel()} tokens is too short for batch_size={batch_size}: "
            f"each of the {batch_size} columns needs at least 2 tokens"
        )
    return stream[: steps * batch_size].view(batch_size, steps).t().contiguous()  # (T, B)


def shard_streams(
    ids: Sequence[int] | np.ndarray | torch.Tensor, batch_size: int, rank: int, world_size: int
) -> torch.Tensor:
    """This data-parallel rank's own ``batch_size`` streams, a (T, batch_size) tensor.

    The stream is batchified into ``batch_size * world_size`` columns and rank r takes
    columns ``[r*batch_size, (r+1)*batch_size)``: no two ranks read the same tokens,
    and every rank has the same T, so they run the same number of steps.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise UserError(f"rank {rank} is not in 0..{world_size - 1} (world_size={world_size})")
    streams = batchify(ids, batch_size * world_size)  # (T, B * world_size)
    return streams[:, rank * batch_size : (rank + 1) * batch_size].contiguous()


def sample_bptt_length(bptt: int, generator: torch.Generator | None = None) -> int:
    """A random chunk length around ``bptt``, as in Merity et al. (2017), section 4.1.

    With probability 0.95 the base is ``bptt``, else ``bptt / 2``; the length is drawn
    from a normal distribution around the base with standard deviation 5, and is at
    least 5. (S. Merity, N. S. Keskar, R. Socher, "Regularizing and Optimizing LSTM
    Language Models", arXiv:1711.02182, 2017.) Scale the learning rate by
    ``length / bptt`` for the step, as the paper does, so short chunks do not count more.
    """
    base = bptt if torch.rand((), generator=generator).item() < 0.95 else bptt / 2
    length = torch.normal(float(base), 5.0, size=(), generator=generator).item()
    return max(5, int(length))


def split_indices(
    n: int,
    *,
    valid: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    stratify: Sequence[Any] | np.ndarray | None = None,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Seeded train/valid/test index arrays (sorted) for datasets that ship unsplit.

    ``stratify`` (labels) keeps class proportions: each class is split on its own, and
    a class with at least three items has at least one in every non-empty split.
    ``groups`` keeps every group in one split (e.g. one speaker or one recording
    session), with splits sized by rows as closely as whole groups allow.
    """
    if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
        raise UserError(
            f"split fractions valid={valid:g}, test={test:g} must be in [0, 1) and sum to "
            "less than 1"
        )
    if n < 1:
        raise DataError("cannot split an empty dataset")
    if stratify is not None and groups is not None:
        raise UserError("split by stratify or by groups, not both")
    generator = np.random.default_rng(seed)
    if groups is not None:
        return _split_groups(np.asarray(groups), valid, test, generator)
    if stratify is None:
        return _split_block(np.arange(n), valid, test, generator, at_least_one=False)
    labels = np.asarray(stratify)
    if len(labels) != n:
        raise DataError(f"stratify has {len(labels)} labels for {n} items")
    classes = np.unique(labels)
    if len(classes) < 2:
        # A numpy scalar (str_, int64) shown as the Python value; object arrays hold those.
        only = classes[0].item() if isinstance(classes[0], np.generic) else classes[0]
        raise DataError(
            f"the label column has only one class ({only!r}); classification needs at least 2"
        )
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for label in classes:
        members = np.flatnonzero(labels == label)
        for name, indices in _split_block(members, valid, test, generator, True).items():
            parts[name].append(indices)
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def _split_block(
    indices: np.ndarray,
    valid: float,
    test: float,
    generator: np.random.Generator,
    at_least_one: bool,
) -> dict[str, np.ndarray]:
    shuffled = generator.permutation(indices)
    count = len(shuffled)
    test_count = math.floor(count * test + 0.5)
    valid_count = math.floor(count * valid + 0.5)
    if at_least_one and count >= 3:
        test_count = max(test_count, 1) if test > 0 else 0
        valid_count = max(valid_count, 1) if valid > 0 else 0
    valid_end = test_count + valid_count
    return {
        "test": np.sort(shuffled[:test_count]),
        "valid": np.sort(shuffled[test_count:valid_end]),
        "train": np.sort(shuffled[valid_end:]),
    }


def _split_groups(
    groups: np.ndarray, valid: float, test: float, generator: np.random.Generator
) -> dict[str, np.ndarray]:
    names, group_of_row = np.unique(groups, return_inverse=True)
    if len(names) < 2:
        raise DataError(f"cannot split by groups: there is only one group ({names[0].tolist()!r})")
    sizes = np.bincount(group_of_row)
    order = generator.permutation(len(names))
    targets = {"test": test * len(groups), "valid": valid * len(groups)}
    assigned: dict[str, list[int]] = {"test": [], "valid": [], "train": []}
    filled = dict.fromkeys(targets, 0)
    for group in order:
        for name in ("test", "valid"):
            # Take a group while it brings the split closer to its share of rows.
            gap = targets[name] - filled[name]
            if gap > 0 and abs(gap - sizes[group]) < gap:
                assigned[name].append(group)
                filled[name] += sizes[group]
                break
        else:
            assigned["train"].append(group)
    if not assigned["train"]:
        raise DataError(
            f"cannot split {len(names)} groups into train/valid/test with valid={valid:g}, "
            f"test={test:g}: no group is left for training"
        )
    return {
        name: np.sort(np.flatnonzero(np.isin(group_of_row, chosen)))
        for name, chosen in assigned.items()
    }
