"""The docs stay true (fast tier): docs/configuration.md is what the config models generate, every
command's --help shows an example that parses and lists the names it takes, and the README's and
docs' relative links lead to files and headings that exist."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from relhead.cli import _attach_lists, build_parser, main
from relhead.config import PIPELINES_FILE
from relhead.configbase import load_yaml
from relhead.docgen import configuration_md

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_md_is_generated_from_the_models():
    """Change a config model or pipelines.yaml, then run `python -m relhead.docgen`."""
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == configuration_md(), "docs/configuration.md is stale: run python -m relhead.docgen"


# ------------------------------------------------------------------------------------------ --help
def _subparsers():
    return next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


COMMANDS = list(_subparsers())


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command, section", [("render", "pipelines"), ("sweep", "sweeps"), ("train", "trainings")])
def test_help_lists_every_named_entry(command, section, capsys, monkeypatch, tmp_path):
    """`render --help` lists every pipeline of the installed pipelines.yaml with its description's first
    words, `sweep --help` every sweep, `train --help` every training."""
    monkeypatch.chdir(tmp_path)  # no ./pipelines.yaml here: the installed one
    out = _help(capsys, command)
    entries = load_yaml(PIPELINES_FILE, section)[section]
    assert entries
    for name, entry in entries.items():
        line = re.search(rf"^  {re.escape(name)} +(.*)$", out, re.M)
        assert line, f"{command} --help does not list {name}"
        assert entry["description"].split()[0] in line.group(1)


def test_help_survives_a_broken_pipelines_file(capsys, monkeypatch, tmp_path):
    (tmp_path / "pipelines.yaml").write_text("pipelines: [\n")
    monkeypatch.chdir(tmp_path)
    assert "pipelines: cannot list them" in _help(capsys, "render")


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_help_shows_an_example_that_parses(command, capsys):
    out = _help(capsys, *([command] if command else []))
    example = re.search(r"^example:\n  (relhead .*)$", out, re.M)
    assert example, f"relhead {command or ''} --help has no example"
    for one in example.group(1).split(" && "):
        argv = shlex.split(one)[1:]
        assert argv[0] == (command or argv[0])
        build_parser().parse_args(_attach_lists(argv))  # the example's options exist (SystemExit if not)
