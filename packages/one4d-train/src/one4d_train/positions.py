"""Reading items by global sample position, in the main process or ahead of time in DataLoader workers.

A position p of a dataset of n items is item `perm_e[p mod n]` of epoch e = p div n, where `perm_e` is a
permutation drawn from (seed, e). Items depend only on (seed, epoch, index), so workers change when an item
is read, never what it holds.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from one4d_data.dataset import collate_samples
from torch.utils.data import DataLoader, Dataset


def sample_positions(step: int, micro: int, accum: int, world: int, rank: int, batch: int) -> list[int]:
    """Global positions of micro-batch `micro` of optimizer step `step` on `rank`."""
    start = ((step * accum + micro) * world + rank) * batch
    return list(range(start, start + batch))


def epoch_permutation(seed: int, epoch: int, size: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(size)


def dataset_item(dataset, index: int, epoch: int) -> dict:
    """Item `index` as seen in `epoch` (task and sparsity are drawn from (seed, epoch, index))."""
    dataset.set_epoch(epoch)
    return dataset[index]


class PositionItems(Dataset):
    """`items[position]` -> the dataset item at that global sample position."""

    def __init__(self, dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, int(seed)
        self._permutation: tuple[int, np.ndarray] | None = None

    def locate(self, position: int) -> tuple[int, int]:
        """(epoch, dataset index) of a position."""
        size = len(self.dataset)
        epoch, offset = divmod(int(position), size)
        if self._permutation is None or self._permutation[0] != epoch:
            self._permutation = (epoch, epoch_permutation(self.seed, epoch, size))
        return epoch, int(self._permutation[1][offset])

    def __getitem__(self, position: int) -> dict:
        epoch, index = self.locate(position)
        return dataset_item(self.dataset, index, epoch)

    def __len__(self) -> int:  # positions are unbounded; DataLoader only needs this for default samplers
        return len(self.dataset)


class PositionSchedule:
    """The micro-batch positions one rank reads from `start_step` to `max_steps`, in order."""

    def __init__(self, start_step: int, max_steps: int, accum: int, world: int, rank: int, batch: int):
        self.start_step, self.max_steps = start_step, max_steps
        self.accum, self.world, self.rank, self.batch = accum, world, rank, batch

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.max_steps):
            for micro in range(self.accum):
                yield sample_positions(step, micro, self.accum, self.world, self.rank, self.batch)

    def __len__(self) -> int:
        return max(0, self.max_steps - self.start_step) * self.accum


class Prefetcher:
    """Collated micro-batches of a schedule, read ahead by `num_workers` DataLoader workers."""

    def __init__(self, items: PositionItems, schedule: PositionSchedule, num_workers: int, pin_memory: bool):
        self.loader = DataLoader(
            items,
            batch_sampler=schedule,
            num_workers=num_workers,
            collate_fn=collate_samples,
            pin_memory=pin_memory,
            prefetch_factor=2 if num_workers > 0 else None,
        )
        self._positions = iter(schedule)
        self._batches = iter(self.loader)

    def next(self, positions: list[int]) -> dict | None:
        """The next prefetched micro-batch if it is the one asked for; None when the schedule went elsewhere
        (the caller then reads the items itself)."""
        expected = next(self._positions, None)
        if expected != positions:
            self.close()
            return None
        return next(self._batches)

    def close(self) -> None:
        self._positions = iter(())
        self._batches = iter(())
        self.loader = None
