"""Helpers the training tests share: the toy training config, and reading a run's metrics."""

import json

import configs
from relhead.train.train import resolve_training


def tiny(*extra, **values):
    """The `small-cpu` preset at toy size (configs.TINY_TRAINING), plus `extra` --set items and `values`."""
    return resolve_training("small-cpu", configs.TINY_TRAINING + list(extra), values)


def take(it, n):
    """The first n items of an iterator."""
    return [x for _, x in zip(range(n), it)]


def metrics(run):
    """The records of a run's metrics.jsonl."""
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
