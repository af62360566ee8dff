"""The `--set` lists of the configs more than one place uses: conftest.py makes its config and
corpus fixtures from them, and a test that varies one adds to its list."""

# The fake head, 4 views each with its own expression: scene specs (sampling only).
SPEC = ["head.model=fake", "views=4", "head.expression.per_view=true"]

# The fake head's corpus written without bpy (tests/synthetic.py; fast tier).
SYNTHETIC = ["head.model=fake", "shards=2", "groups_per_shard=2", "views=3", "image.width=64", "image.height=64"]

# The corpus machinery's reference: the quickstart pipeline (Anny, strand hair, glasses, garments...)
# at 2 shards x 2 groups x 2 views, 96 px. Groups 0 and 3 of its seed are ones whose head geometry
# rounds differently in the last bits when Anny's torch runs on another thread count.
SMALL_PIPELINE = "quickstart"
SMALL = ["shards=2", "groups_per_shard=2", "views=2", "image.width=96", "image.height=96"]

# The fake head rendered through the real pipeline.
FAKE_RENDER = ["head.model=fake", "groups_per_shard=2", "views=3"]

# The fake head's corpus written without bpy that the training tests read (fast tier): 6 groups, held out
# every 3rd (groups 2 and 5) by the tests' toy training config.
TRAIN = ["head.model=fake", "shards=2", "groups_per_shard=3", "views=3", "image.width=64", "image.height=64"]

# A larger one for the slow training tests (4 x 6 groups x 4 views at 96 px).
TRAIN_SLOW = ["head.model=fake", "shards=4", "groups_per_shard=6", "views=4", "image.width=96", "image.height=96"]

# The training tests' toy model and budget (a `--set` list of a training preset): 48 px crops (3 x 3
# tokens of the CNN stem), every group id 3k+2 held out (groups 2 and 5 of TRAIN).
TINY_TRAINING = ["data.size=48", "data.batch=4", "data.workers=0", "data.shuffle_buffer=8", "data.holdout_every=3",
                 "model.overrides={embed_dim: 32, depth: 1, num_heads: 2, head_depth: 1, head_heads: 2, cnn_width: 8}",
                 "log_every=1", "checkpoint_every=0", "eval_max_pairs=0", "plot=false", "threads=1"]
