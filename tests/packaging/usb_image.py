"""Small USB images for the image and install.sh tests: packaging/build_usb_image.py run on a tiny
input (a throwaway minisign key, no Debian packages, a few-byte model directory) so a build takes
about a second. The bundle is a stand-in for `make bundle`'s (named as such): a tarball shaped like
it (`vomeet-<version>/vomeet`) whose executable runs this checkout's real `vomeet`, so install.sh's
migrate, set-password and trial serve run the real program on a real SQLite file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging"))
import build_usb_image  # noqa: E402
import read_image  # noqa: E402

debian_arch = build_usb_image.debian_arch

SOURCE_VOMEET = REPO / ".venv" / "bin" / "vomeet"


@dataclass(frozen=True)
class Key:
    secret: Path
    public: Path

    @property
    def public_line(self) -> str:
        return self.public.read_text(encoding="utf-8").strip().splitlines()[-1]


def throwaway_key(folder: Path) -> Key:
    """A minisign key pair without a password (`minisign -G -W`)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = Key(folder / "test.key", folder / "test.pub")
    subprocess.run(["minisign", "-G", "-W", "-f", "-p", str(key.public), "-s", str(key.secret)],
                   check=True, capture_output=True)
    return key


def stand_in_bundle(folder: Path, version: str, broken_serve: bool = False) -> Path:
    """`vomeet-<version>-linux-<arch>.tar.zst` holding `vomeet-<version>/vomeet`, which execs this
    checkout's vomeet; with `broken_serve`, `serve` exits 1 at once (a release that never gets
    ready, for the automatic rollback)."""
    tree = folder / f"tree-{version}" / f"vomeet-{version}"
    tree.mkdir(parents=True, exist_ok=True)
    guard = 'if [ "$1" = serve ]; then echo "this build cannot serve" >&2; exit 1; fi\n' if broken_serve else ""
    (tree / "vomeet").write_text(f"#!/bin/sh\n{guard}exec {SOURCE_VOMEET} \"$@\"\n", encoding="utf-8")
    (tree / "vomeet").chmod(0o755)
    tarball = folder / f"vomeet-{version}-linux-{debian_arch()}.tar.zst"
    subprocess.run(["tar", "--zstd", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C", str(tree.parent),
                    "-cf", str(tarball), tree.name], check=True)  # the same bytes on every build
    return tarball


def tiny_model(folder: Path, name: str = "test-model") -> Path:
    """A directory shaped like a CTranslate2 model (model.bin, config.json), a few bytes each."""
    model = folder / name
    model.mkdir(parents=True, exist_ok=True)
    (model / "model.bin").write_bytes(b"not a real model: the install tests copy it, nothing loads it")
    (model / "config.json").write_text("{}\n", encoding="utf-8")
    return model


def units_marked(folder: Path, marker: str) -> Path:
    """A copy of systemd/ whose vomeet.service ends with a comment naming `marker`, to tell which
    release's unit is installed."""
    units = Path(shutil.copytree(REPO / "systemd", folder / "systemd"))
    with (units / "vomeet.service").open("a", encoding="utf-8") as unit:
        unit.write(f"# unit of release {marker}\n")
    return units


def build_image(folder: Path, key: Key, version: str = "0.1.0", broken_serve: bool = False) -> tuple[Path, Path]:
    """Build an image in `folder`; returns (image file, staging directory = the image's files).
    Its vomeet.service ends with the comment `# unit of release <version>`."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = build_usb_image.ImageSpec(
        version=version, bundle=stand_in_bundle(folder, version, broken_serve),
        signing_key=key.secret, signing_pubkey=key.public,
        models=[tiny_model(folder)], packages=[], systemd_dir=units_marked(folder, version),
    )
    image = folder / f"vomeet-{version}-usb.img"
    staging = folder / f"staging-{version}"
    build_usb_image.build(spec, staging, image)
    return image, staging


def extract(image: Path, out: Path) -> Path:
    """The image's files, read with packaging/read_image.py (no mount)."""
    return read_image.extract(image, out)
