import pytest

from shotseek.pipeline.config import (
    AUTO_MODEL,
    CPU_MODEL,
    CPU_PRETRAINED,
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    Settings,
)


def test_defaults_choose_the_model_by_device_at_two_fps(monkeypatch):
    from shotseek.pipeline import encoder

    s = Settings()
    assert (s.model, s.pretrained, s.fps) == (AUTO_MODEL, AUTO_MODEL, 2.0)
    assert encoder.configured_model_id(s) == f"{CPU_MODEL}/{CPU_PRETRAINED}"  # CI has no GPU
    monkeypatch.setattr(encoder, "pick_device", lambda preference: encoder.torch.device("cuda"))
    assert encoder.configured_model_id(s) == f"{DEFAULT_MODEL}/{DEFAULT_PRETRAINED}"
    assert "SigLIP2" in DEFAULT_MODEL and "SigLIP2" in CPU_MODEL  # Apache-2.0 weights
    # weights named alone keep meaning the GPU default's architecture, as before "auto"
    assert Settings(pretrained="none").model == DEFAULT_MODEL


def test_environment_variables_override_defaults(monkeypatch):
    monkeypatch.setenv("SHOTSEEK_FPS", "1.5")
    monkeypatch.setenv("SHOTSEEK_MODEL", "ViT-B-32")
    s = Settings()
    assert s.fps == 1.5 and s.model == "ViT-B-32"


def test_flags_override_environment_and_none_means_not_given(monkeypatch):
    monkeypatch.setenv("SHOTSEEK_FPS", "1.5")
    s = Settings().merged(fps=3.0, model=None)
    assert s.fps == 3.0 and s.model == AUTO_MODEL


def test_out_of_range_values_are_refused():
    with pytest.raises(ValueError, match="fps"):
        Settings().merged(fps=0)


def test_secrets_are_never_printed(monkeypatch):
    """`shotseek config` (text and JSON) and a settings repr hide the token and the API key."""
    import json

    from typer.testing import CliRunner

    from shotseek.server.cli import app

    token, key = "tok-" + "x" * 20 + "-visible", "key-qdrant-visible"
    monkeypatch.setenv("SHOTSEEK_TOKEN", token)
    monkeypatch.setenv("SHOTSEEK_QDRANT_API_KEY", key)
    runner = CliRunner()
    for args in (["config"], ["config", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert token not in result.output and key not in result.output
    assert json.loads(runner.invoke(app, ["config", "--json"]).stdout)["token"] == "**********"
    settings = Settings().merged(fps=3.0)  # a copy keeps the secret, still hidden
    assert settings.token.get_secret_value() == token
    assert token not in repr(settings) and key not in str(settings)


def test_the_configuration_reference_is_current():
    """docs/configuration.md is made from the Settings object: every setting, its default and
    description, and whether a command may set it per request beside a server."""
    from pathlib import Path

    from shotseek.server.render import settings_reference

    written = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    assert written == settings_reference(), (
        "docs/configuration.md is stale: uv run shotseek config --reference > docs/configuration.md"
    )
    for name in Settings.model_fields:
        assert f"| `SHOTSEEK_{name.upper()}` |" in written


def test_a_model_named_alone_gets_its_best_weights_and_says_so(monkeypatch, caplog):
    from shotseek.pipeline.encoder import configured_model_id

    assert Settings(model=DEFAULT_MODEL).pretrained == DEFAULT_PRETRAINED  # its pair, as ever
    bare = Settings().merged(model="ViT-B-16")
    assert bare.pretrained == "best"
    with caplog.at_level("WARNING"):
        assert configured_model_id(bare) == "ViT-B-16-quickgelu/dfn2b"
    assert "ViT-B-16" in caplog.text and "dfn2b" in caplog.text
    assert configured_model_id(Settings(model="ViT-B-32", pretrained="laion2b_s34b_b79k")) == (
        "ViT-B-32/laion2b_s34b_b79k"
    )
    monkeypatch.setenv("SHOTSEEK_PRETRAINED", "openai")  # named weights are never replaced
    assert Settings().merged(model="ViT-B-16").pretrained == "openai"


def test_ci_runs_exactly_the_readmes_test_command():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    first_block = (root / "README.md").read_text().split("```")[1].strip().splitlines()
    ci = [line for line in (root / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert "shotseek --help" in first_block[0] and first_block[1] == ci[-1]
