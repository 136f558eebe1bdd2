"""docker-compose.yml agrees with the settings and the README: every SHOTSEEK_* variable it
sets is a setting, the services talk to each other where the settings say, the images are
pinned, the Qdrant healthcheck needs no tool its image lacks, and the README shows it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from shotseek.pipeline.config import DEFAULT_VLM, Settings

ROOT = Path(__file__).resolve().parents[1]


def _compose(name: str = "docker-compose.yml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def test_the_services_and_their_wiring():
    services = _compose()["services"]
    assert set(services) == {"qdrant", "ollama", "ollama-pull", "shotseek"}
    env = services["shotseek"]["environment"]
    for key in env:
        if key.startswith("SHOTSEEK_"):
            assert key.removeprefix("SHOTSEEK_").lower() in Settings.model_fields, key
    assert env["SHOTSEEK_QDRANT_URL"] == "http://qdrant:6333"
    assert env["SHOTSEEK_OLLAMA_URL"] == "http://ollama:11434"
    assert DEFAULT_VLM in env["SHOTSEEK_VLM_MODEL"]
    assert DEFAULT_VLM in " ".join(services["ollama-pull"]["entrypoint"])
    assert env["SHOTSEEK_MEDIA_ROOTS"] == "/footage"
    assert "${FOOTAGE:?" in " ".join(services["shotseek"]["volumes"])
    assert any(v.endswith(":/footage:ro") for v in services["shotseek"]["volumes"])
    assert "SHOTSEEK_TOKEN:?" in env["SHOTSEEK_TOKEN"]  # no token: compose refuses to start
    command = services["shotseek"]["command"]
    assert command[command.index("serve") :][:2] == ["serve", "--http"]
    port = command[command.index("--port") + 1]
    assert services["shotseek"]["ports"] == [f"{port}:{port}"]
    assert set(services["shotseek"]["depends_on"]) == {"qdrant", "ollama"}
    # the store without an API key: published to this machine's loopback only
    assert services["qdrant"]["ports"] == ["127.0.0.1:6333:6333"]


def test_images_are_pinned_and_healthchecks_use_what_the_images_have():
    services = _compose()["services"]
    for name, service in services.items():
        image = service["image"]
        assert re.search(r":v?\d+\.\d+\.\d+", image), f"{name}: pin {image} to a version"
    qdrant_check = " ".join(services["qdrant"]["healthcheck"]["test"])
    assert "curl" not in qdrant_check and "wget" not in qdrant_check
    assert "/readyz" in qdrant_check
    volumes = set(_compose()["volumes"])
    for service in services.values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            assert source in volumes or source.startswith((".", "$")), mount


def test_the_gpu_override_reserves_a_gpu_for_ollama_only():
    override = _compose("docker-compose.gpu.yml")["services"]
    assert set(override) == {"ollama"}
    [device] = override["ollama"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]


def test_the_readme_shows_it():
    readme = (ROOT / "README.md").read_text()
    port = _compose()["services"]["shotseek"]["ports"][0].split(":")[0]
    assert "docker compose up -d" in readme
    assert "docker-compose.gpu.yml" in readme
    assert f"http://localhost:{port}/mcp" in readme
