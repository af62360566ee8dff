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


def test_cli_md_names_every_option_of_every_command():
    """docs/cli.md has a section per command that names each of its options."""
    text = (ROOT / "docs" / "cli.md").read_text()
    sections = dict(re.findall(r"^### (\S+)\n(.*?)(?=^##|\Z)", text, re.M | re.S))
    for name, parser in _subparsers().items():
        assert name in sections, f"docs/cli.md has no section for {name}"
        for action in parser._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert re.search(rf"{re.escape(opt)}\b", sections[name]), f"docs/cli.md, {name}: no {opt}"


# ------------------------------------------------------------------------------------------- links
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _slugs(md: Path) -> set[str]:
    """The anchors GitHub gives a file's headings."""
    out, seen, fence = set(), {}, False
    for line in md.read_text().splitlines():
        fence ^= line.startswith("```")
        m = None if fence else re.match(r"#{1,6} (.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _links(md: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text)


@pytest.mark.parametrize("md", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_somewhere(md):
    bad = []
    for link in _links(md):
        if re.match(r"[a-z]+:", link):
            continue  # a web address
        path, _, anchor = link.partition("#")
        target = (md.parent / path).resolve() if path else md
        if not target.exists():
            bad.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _slugs(target):
            bad.append(f"{link}: no such heading")
    assert bad == [], f"{md.relative_to(ROOT)}: {bad}"
