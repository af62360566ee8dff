"""The docs stay true (fast tier): docs/configuration.md is what the config models generate, and the
README's and docs' relative links lead to files and headings that exist."""

import re
from pathlib import Path

from relhead.docgen import configuration_md

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_md_is_generated_from_the_models():
    """Change a config model or pipelines.yaml, then run `python -m relhead.docgen`."""
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == configuration_md(), "docs/configuration.md is stale: run python -m relhead.docgen"
