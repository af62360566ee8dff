"""The `--set` lists of the configs more than one place uses: conftest.py makes its config and
corpus fixtures from them, and a test that varies one adds to its list."""

# The fake head, 4 views each with its own expression: scene specs (sampling only).
SPEC = ["head.model=fake", "views=4", "head.expression.per_view=true"]

# The fake head's corpus written without bpy (tests/synthetic.py; fast tier).
SYNTHETIC = ["head.model=fake", "shards=2", "groups_per_shard=2", "views=3", "image.width=64", "image.height=64"]

# Anny rendered, 2 shards x 2 groups x 2 views at 160 px, Cycles 4 samples: about 10 s per corpus.
SMALL = ["shards=2", "groups_per_shard=2", "views=2"]

# The fake head rendered through the real pipeline.
FAKE_RENDER = ["head.model=fake", "groups_per_shard=2", "views=3"]
