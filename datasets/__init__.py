"""Sharded paired datasets: shard writer and reader, manifest, pairs, corpus generation."""
