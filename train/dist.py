"""Training in several processes (torch.distributed, as `torchrun` starts them): who this process is, the
process group, and the few collective steps the trainer takes.

`torchrun --nproc_per_node N $(which relhead) train ...` (add `--nnodes`, `--node_rank`, `--rdzv_*` for
several machines) starts N processes with RANK, WORLD_SIZE, LOCAL_RANK in their environment; without
them (`relhead train` alone) training is one process and nothing here communicates. Backend: NCCL on
CUDA, gloo on the CPU. Each process trains on its own share of the shards (relhead.train.data deals
them by rank), DistributedDataParallel averages the gradients, and only rank 0 writes the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        """The one process that writes the run folder and logs."""
        return self.rank == 0

    @property
    def on(self) -> bool:
        return self.world > 1


def setup(cuda: bool) -> Dist:
    """Join the process group torchrun describes in the environment (a no-op without one)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    d = Dist(rank=int(os.environ["RANK"]), world=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")),
             local_world=int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))
    if cuda:
        torch.cuda.set_device(d.local_rank)
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if cuda else "gloo")
    return d


def teardown(d: Dist) -> None:
    if d.on and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.on:
        torch_dist.barrier()


def total(d: Dist, values: list[float]) -> list[float]:
    """Element-wise sums over the processes."""
    if not d.on:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    torch_dist.all_reduce(t)
    return t.tolist()


def gather(d: Dist, obj) -> list:
    """Every process' `obj`, in rank order."""
    if not d.on:
        return [obj]
    out = [None] * d.world
    torch_dist.all_gather_object(out, obj)
    return out


def same_weights(d: Dist, model: torch.nn.Module) -> bool:
    """Whether every process holds the same weights (a float64 checksum of each tensor, compared)."""
    sums = gather(d, [float(p.detach().double().sum()) for p in model.parameters()])
    return all(s == sums[0] for s in sums)
