"""The USB image as built by packaging/build_usb_image.py: partition table and VOMEET filesystem,
files read back without a mount, MANIFEST.json and SHA256SUMS consistent with the files, the
signature, install.sh's embedded key; the offline repository's closure (packaging/offline_repo.py)
resolved against a minimal root rather than this machine."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.packaging.usb_image import (
    REPO,
    Key,
    build_image,
    build_usb_image,
    debian_arch,
    extract,
    stand_in_bundle,
    throwaway_key,
    tiny_model,
)


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Key:
    return throwaway_key(tmp_path_factory.mktemp("key"))


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, key: Key) -> Path:
    return build_image(tmp_path_factory.mktemp("image"), key)[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, image: Path) -> Path:
    return extract(image, tmp_path_factory.mktemp("files") / "out")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_install_script_is_shellcheck_clean() -> None:
    result = subprocess.run(["shellcheck", "packaging/install.sh"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_install_script_is_one_function_called_last() -> None:
    lines = (REPO / "packaging" / "install.sh").read_text(encoding="utf-8").rstrip().splitlines()
    assert lines[-1] == 'main "$@"'
    body = [line for line in lines if line and not line.startswith("#")]
    assert body[0] == "main() {" and body[-2] == "}"


def test_image_is_gpt_with_one_ext4_partition_labelled_vomeet(image: Path) -> None:
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], check=True, capture_output=True,
                                      text=True).stdout)["partitiontable"]
    assert table["label"] == "gpt"
    [partition] = table["partitions"]
    assert partition["name"] == "VOMEET" and partition["start"] == 2048
    probe = subprocess.run(["blkid", "-p", "-O", str(2048 * 512), "-o", "export", str(image)],
                           check=True, capture_output=True, text=True).stdout
    assert "LABEL=VOMEET" in probe.splitlines() and "TYPE=ext4" in probe.splitlines()


def test_image_holds_what_install_sh_needs(files: Path) -> None:
    for name in ("install.sh", "MANIFEST.json", "SHA256SUMS", "SHA256SUMS.minisig", "VERSION",
                 f"bundle/vomeet-0.1.0-linux-{debian_arch()}.tar.zst", "models/test-model/model.bin",
                 "systemd/vomeet.service", "systemd/vomeet.sysusers", "systemd/vomeet.tmpfiles",
                 "tools/minisign", "tools/zstd"):
        assert (files / name).is_file(), f"{name} missing from the image"
    assert (files / "install.sh").stat().st_mode & 0o111, "install.sh lost its execute bit"


def test_sha256sums_cover_every_file_with_its_digest(files: Path) -> None:
    listed = {name: digest for digest, name in
              (line.split("  ", 1) for line in (files / "SHA256SUMS").read_text().splitlines())}
    present = {p.relative_to(files).as_posix() for p in files.rglob("*")
               if p.is_file() and "lost+found" not in p.parts}
    assert set(listed) == present - {"SHA256SUMS", "SHA256SUMS.minisig"}
    for name, digest in listed.items():
        assert sha256(files / name) == digest, name


def test_manifest_names_every_component_with_its_digest(files: Path) -> None:
    manifest = json.loads((files / "MANIFEST.json").read_text())
    assert manifest["version"] == "0.1.0" == (files / "VERSION").read_text().strip()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert manifest["build"]["commit"] == head
    assert manifest["bundle"]["sha256"] == sha256(files / manifest["bundle"]["file"])
    assert manifest["installer"]["sha256"] == sha256(files / "install.sh")
    assert {u["file"] for u in manifest["units"]} >= {"systemd/vomeet.service", "systemd/vomeet.sysusers"}
    for unit in manifest["units"]:
        assert unit["sha256"] == sha256(files / unit["file"])
    [model] = manifest["models"]
    assert model["name"] == "test-model"
    assert model["files"] == {n: sha256(files / model["path"] / n) for n in ("config.json", "model.bin")}
    if (REPO / "requirements.lock").is_file():
        assert manifest["lock"]["sha256"] == sha256(REPO / "requirements.lock")
    assert manifest["packages"] == [] and manifest["k3s"] is None


def test_signature_verifies_with_the_release_key_only(files: Path, key: Key, tmp_path: Path) -> None:
    def verify(public: Path) -> int:
        return subprocess.run(["minisign", "-Vq", "-p", str(public), "-m", str(files / "SHA256SUMS"),
                               "-x", str(files / "SHA256SUMS.minisig")], capture_output=True).returncode

    assert verify(key.public) == 0
    assert verify(throwaway_key(tmp_path).public) != 0


def test_install_sh_on_the_image_carries_the_public_key_and_version(files: Path, key: Key) -> None:
    script = (files / "install.sh").read_text()
    assert f'readonly SIGNING_PUBKEY="{key.public_line}"' in script
    assert 'readonly VERSION="0.1.0"' in script
    assert "@" + "VERSION@" not in script and "@" + "SIGNING_PUBKEY@" not in script


def test_reading_a_missing_path_out_of_the_image_fails(image: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(REPO / ".venv/bin/python"), "packaging/read_image.py", str(image),
                             str(tmp_path / "out"), "--path", "/no-such-file"], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode != 0 and "/no-such-file" in result.stderr


def test_offline_repo_closure_is_what_a_minimal_root_lacks(tmp_path: Path) -> None:
    """minisign needs libsodium23, which this machine has (minisign is installed here) and a minimal
    root lacks: the repository must carry it, and nothing a minimal root already has (libc6)."""
    result = subprocess.run(
        [str(REPO / ".venv/bin/python"), "packaging/offline_repo.py", "--out", str(tmp_path / "repo"),
         "--cache", str(REPO / "build" / "apt-cache"), "minisign"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    index = (tmp_path / "repo" / "Packages").read_text()
    names = {line.split(": ", 1)[1] for line in index.splitlines() if line.startswith("Package: ")}
    assert names == {"minisign", "libsodium23"}
    for stanza in index.strip().split("\n\n"):
        filename = next(line.split(": ", 1)[1] for line in stanza.splitlines() if line.startswith("Filename: "))
        digest = next(line.split(": ", 1)[1] for line in stanza.splitlines() if line.startswith("SHA256: "))
        assert sha256(tmp_path / "repo" / filename) == digest


def test_two_builds_of_one_commit_have_the_same_manifest(tmp_path: Path, key: Key, files: Path) -> None:
    _, staging = build_image(tmp_path, key)
    assert (staging / "MANIFEST.json").read_text() == (files / "MANIFEST.json").read_text()


def test_k3s_artefacts_travel_all_together_or_not_at_all(tmp_path: Path, key: Key) -> None:
    """Stand-ins for k3s's binary, image tarball and install.sh (they cannot be fetched here)."""
    k3s = tmp_path / "k3s"
    k3s.write_text("#!/bin/sh\necho 'k3s version v1.31.5+k3s1 (stand-in)'\n")
    k3s.chmod(0o755)
    images = tmp_path / "k3s-airgap-images-amd64.tar.zst"
    images.write_bytes(b"images")
    script = tmp_path / "k3s-install.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    spec = build_usb_image.ImageSpec(version="0.1.0", bundle=stand_in_bundle(tmp_path, "0.1.0"),
                                     signing_key=key.secret, signing_pubkey=key.public,
                                     models=[tiny_model(tmp_path)], packages=[], k3s_binary=k3s)
    with pytest.raises(SystemExit, match="all three"):
        build_usb_image.stage(spec, tmp_path / "partial")
    spec.k3s_images, spec.k3s_install_script = images, script
    manifest = build_usb_image.stage(spec, tmp_path / "staging")
    k3s_entry = manifest["k3s"]
    assert isinstance(k3s_entry, dict) and k3s_entry["version"] == "k3s version v1.31.5+k3s1 (stand-in)"
    assert set(k3s_entry["files"]) == {"k3s/k3s", "k3s/k3s-airgap-images-amd64.tar.zst", "k3s/install.sh"}
    assert (tmp_path / "staging/k3s/k3s").stat().st_mode & 0o111
