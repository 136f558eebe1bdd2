"""The prompt templates in the top-level ``prompts/`` folder (shipped in the wheel as
``shotseek/prompts``): ``<kind>-v<N>.md``, the highest N of a kind being the current one. Every
stored VLM answer names the prompt that produced it (``caption-v1``), so a new version never
passes for an old one. Values are filled in with ``$name`` placeholders."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_FILE = re.compile(r"^(?P<kind>[a-z][a-z-]*)-v(?P<version>\d+)\.md$")


@dataclass(frozen=True)
class Prompt:
    kind: str
    version: int
    text: str

    @property
    def name(self) -> str:
        """The prompt's id, e.g. ``caption-v1``."""
        return f"{self.kind}-v{self.version}"

    @property
    def arguments(self) -> list[str]:
        """The ``$placeholders`` the template expects."""
        found = string.Template(self.text).get_identifiers()
        return list(dict.fromkeys(found))

    def render(self, **values: object) -> str:
        return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})


def prompts_dir() -> Path:
    here = Path(__file__).resolve()
    packaged = here.parents[1] / "prompts"  # installed from the wheel
    return packaged if packaged.is_dir() else here.parents[2] / "prompts"  # a source checkout


@cache
def current_prompts() -> dict[str, Prompt]:
    """The newest version of each kind of prompt, by kind."""
    newest: dict[str, Prompt] = {}
    for path in sorted(prompts_dir().glob("*.md")):
        match = _FILE.match(path.name)
        if not match:
            continue
        prompt = Prompt(match["kind"], int(match["version"]), path.read_text())
        if prompt.kind not in newest or prompt.version > newest[prompt.kind].version:
            newest[prompt.kind] = prompt
    return newest


def prompt(kind: str) -> Prompt:
    found = current_prompts()
    if kind not in found:
        raise FileNotFoundError(f"no {kind}-v<N>.md in {prompts_dir()}: the package is incomplete")
    return found[kind]
