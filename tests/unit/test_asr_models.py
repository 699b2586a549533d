"""Which Whisper models the box has and which one `vomeet asr` loads (appliance/asr_models.py):
folders under <data_dir>/models/ (made here from the packaged tiny.en's real files) and the
packaged default."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.asr_models import asr_model_args, installed_models, model_in_use, packaged_model
from appliance.cli import main
from appliance.config import ConfigError, Settings


def install_model(settings: Settings, name: str) -> Path:
    """A model folder as the installer lays it out (here: links to the packaged model's files)."""
    packaged = packaged_model()
    assert packaged is not None
    folder = settings.models_dir / name
    folder.mkdir(parents=True)
    for file in packaged.path.iterdir():
        (folder / file.name).symlink_to(file)
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def test_with_nothing_installed_the_packaged_tiny_en_is_in_use(settings: Settings) -> None:
    (only,) = installed_models(settings)
    assert only.packaged and only.name == "tiny.en"
    assert model_in_use(settings) == only
    assert asr_model_args(settings) == []  # the ASR finds the packaged model itself


def test_a_model_folder_under_the_data_directory_is_listed_and_selected_by_name(settings: Settings) -> None:
    folder = install_model(settings, "small.en")
    (settings.models_dir / "not-a-model").mkdir()  # no model.bin: not listed
    assert [(m.name, m.packaged) for m in installed_models(settings)] == [("small.en", False), ("tiny.en", True)]
    chosen = settings.model_copy(update={"asr_model": "small.en"})
    assert model_in_use(chosen).path == folder
    assert asr_model_args(chosen) == ["--model", str(folder.resolve())]


def test_an_installed_tiny_en_folder_wins_over_the_packaged_one(settings: Settings) -> None:
    folder = install_model(settings, "tiny.en")
    chosen = settings.model_copy(update={"asr_model": "tiny.en"})
    assert model_in_use(chosen).path == folder and not model_in_use(chosen).packaged


def test_a_path_to_a_model_folder_is_taken_as_it_is(settings: Settings, tmp_path: Path) -> None:
    elsewhere = install_model(Settings(data_dir=tmp_path / "other"), "medium")
    chosen = settings.model_copy(update={"asr_model": str(elsewhere)})
    assert model_in_use(chosen).path == elsewhere


def test_an_unknown_model_is_refused_naming_what_is_installed(settings: Settings) -> None:
    install_model(settings, "small.en")
    with pytest.raises(ConfigError, match=r"VOMEET_ASR_MODEL='large-v3'.*installed: small.en, tiny.en"):
        model_in_use(settings.model_copy(update={"asr_model": "large-v3"}))


def test_models_list_marks_the_model_in_use(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = install_model(settings, "small.en")
    monkeypatch.setenv("VOMEET_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VOMEET_ASR_MODEL", "small.en")
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert rows["small.en"][1] == "*" and rows["small.en"][-1] == str(folder)
    assert "*" not in rows["tiny.en"][:3]


def test_models_list_fails_when_the_setting_names_no_installed_model(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOMEET_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VOMEET_ASR_MODEL", "large-v3")
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 1
    assert "tiny.en (packaged)" in result.output
