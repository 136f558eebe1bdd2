"""The front page stays short and every pointer in it and in docs/ leads somewhere: links,
benchmarks named with their command, and the tour's commands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_read_in_a_minute():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, len(lines)


def test_every_relative_link_leads_to_a_file():
    for page in DOCS:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to {target}"


def test_every_benchmark_named_exists():
    for page in DOCS:
        for name in re.findall(r"python -m bench\.(\w+)", page.read_text()):
            assert (ROOT / "bench" / f"{name}.py").is_file(), f"{page.name}: bench.{name}"


def test_every_command_of_the_tour_is_a_command():
    from typer.main import get_command

    from shotseek.server.cli import app

    commands = set(get_command(app).commands)
    readme = (ROOT / "README.md").read_text()
    tour = readme.split("## A short tour")[1].split("```")[1]
    used = set(re.findall(r"shotseek (\w[\w-]*)", tour))
    assert used and used <= commands, used - commands
