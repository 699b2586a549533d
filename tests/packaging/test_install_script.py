"""install.sh from a small image (tests/packaging/usb_image.py), run for real as root into a
temporary target root (`--root DIR --no-start`: systemd is not PID 1 here): a tampered image is
refused before anything is written; install lays out /opt, /etc and /var/lib with their modes and
owner, migrates a real SQLite database and creates the first console administrator; a second run
changes nothing; an upgrade keeps the users and tokens and proves the new version serves (a trial
`vomeet serve` answering /readyz); an upgrade that never gets ready rolls itself back; --rollback;
--uninstall keeps the data, --purge removes it. The clean-root test (test_clean_root_install.py)
runs the same script inside a minimal Debian root with the frozen bundle."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.packaging.usb_image import SOURCE_VOMEET, Key, build_image, extract, throwaway_key

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install.sh runs as root")


def run_install(image_files: Path, root: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(image_files / "install.sh"), "--root", str(root), "--no-start", *args],
                          capture_output=True, text=True, timeout=timeout)


def tree_state(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path under root with its mode, owner, mtime and link target: what a rerun must keep.
    SQLite's -shm/-wal files are left out: any reader of the database (migrate finding nothing to
    do) makes and removes them; the database file itself is compared. For the same reason a
    directory's mtime is not (it moves when such a file comes and goes); its entries are, since
    every path is listed."""
    state = {}
    for path in sorted(root.rglob("*")):
        if path.name.endswith(("-shm", "-wal", "-journal")):
            continue
        info = path.lstat()
        target = os.readlink(path) if path.is_symlink() else ""
        mtime = 0 if stat.S_ISDIR(info.st_mode) else info.st_mtime_ns
        state[path.relative_to(root).as_posix()] = (info.st_mode, info.st_uid, mtime, target)
    return state


def vomeet(root: Path, *args: str) -> str:
    """The source vomeet on the target root's data (what the installed stand-in bundle runs)."""
    env = {**os.environ, "VOMEET_DATA_DIR": str(root / "var/lib/vomeet"),
           "VOMEET_CONFIG_FILE": str(root / "etc/vomeet/vomeet.toml"),
           "VOMEET_ADMIN_API_KEY_FILE": str(root / "etc/vomeet/secrets/admin-api-key")}
    return subprocess.run([str(SOURCE_VOMEET), *args], env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Key:
    return throwaway_key(tmp_path_factory.mktemp("key"))


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, key: Key) -> dict[str, Path]:
    """The files of three images, read out of them: 0.1.0, 0.1.1 and a 0.1.2 that cannot serve."""
    folder = tmp_path_factory.mktemp("images")
    files = {}
    for version, broken in (("0.1.0", False), ("0.1.1", False), ("0.1.2", True)):
        image, _ = build_image(folder / version, key, version, broken_serve=broken)
        files[version] = extract(image, folder / f"files-{version}")
    return files


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The target root the lifecycle tests share, with operator settings written before the install
    (kept by it): loopback, a free port, no ASR child (no model loads in the trial serve)."""
    target = tmp_path_factory.mktemp("target")
    (target / "etc/vomeet").mkdir(parents=True)
    (target / "etc/vomeet/vomeet.toml").write_text(
        f'host = "127.0.0.1"\nport = {free_port()}\nasr_enabled = false\n', encoding="utf-8")
    return target


def installed_unit_release(root: Path) -> str:
    """Which release's vomeet.service is installed (tests/packaging/usb_image.py marks them)."""
    last = (root / "etc/systemd/system/vomeet.service").read_text().rstrip().splitlines()[-1]
    return last.removeprefix("# unit of release ")


def has_backup_command() -> bool:
    """Whether this checkout's vomeet has `backup` (part C of issue 14); install.sh uses it if so."""
    return subprocess.run([str(SOURCE_VOMEET), "backup", "--help"], capture_output=True).returncode == 0


def copy_of(files: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(files, tmp_path / "image", symlinks=True))


def resign(files: Path, key: Key) -> None:
    """What an attacker with their own key does after editing: new SHA256SUMS, new signature."""
    listed = sorted(p.relative_to(files).as_posix() for p in files.rglob("*")
                    if p.is_file() and "lost+found" not in p.parts and not p.name.startswith("SHA256SUMS"))
    sums = subprocess.run(["sha256sum", *listed], cwd=files, check=True, capture_output=True, text=True).stdout
    (files / "SHA256SUMS").write_text(sums)
    subprocess.run(["minisign", "-S", "-s", str(key.secret), "-m", str(files / "SHA256SUMS")], check=True,
                   capture_output=True)


@pytest.mark.parametrize("tamper", ["changed file", "added file", "sums rewritten", "signed by another key"])
def test_a_tampered_image_is_refused_before_anything_changes(
    images: dict[str, Path], tmp_path: Path, tamper: str
) -> None:
    files = copy_of(images["0.1.0"], tmp_path)
    model = files / "models/test-model/model.bin"
    if tamper == "changed file":
        model.write_bytes(model.read_bytes().replace(b"real", b"rea1"))
    elif tamper == "added file":
        (files / "models/extra").mkdir()
        (files / "models/extra/model.bin").write_bytes(b"x")
    elif tamper == "sums rewritten":
        model.write_bytes(b"other weights")
        sums = subprocess.run(["sha256sum", "models/test-model/model.bin"], cwd=files, capture_output=True,
                              text=True, check=True).stdout
        lines = [line for line in (files / "SHA256SUMS").read_text().splitlines() if "model.bin" not in line]
        (files / "SHA256SUMS").write_text("\n".join(lines) + "\n" + sums)
    else:
        model.write_bytes(b"other weights")
        resign(files, throwaway_key(tmp_path / "attacker"))
    target = tmp_path / "target"
    target.mkdir()
    result = run_install(files, target)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "REFUSED" in result.stderr and "nothing was changed" in result.stderr
    assert list(target.iterdir()) == [], "install.sh wrote into the target before refusing"


def test_install_lays_out_the_appliance(images: dict[str, Path], root: Path) -> None:
    result = run_install(images["0.1.0"], root)
    assert result.returncode == 0, result.stdout + result.stderr
    passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    uid = int(passwd["vomeet"][2])
    opt = root / "opt/vomeet"
    assert os.readlink(opt / "current") == "0.1.0" and (opt / "0.1.0/vomeet").is_file()
    assert os.readlink(opt / "vomeet") == "current/vomeet"
    data = root / "var/lib/vomeet"
    assert data.stat().st_mode & 0o777 == 0o700 and data.stat().st_uid == uid
    assert (data / "models/test-model/model.bin").read_bytes().startswith(b"not a real model")
    settings = (root / "etc/vomeet/vomeet.toml").read_text()
    assert "asr_enabled = false" in settings, "the operator's settings were replaced"
    for secret in ("admin-api-key", "console-admin-password"):
        assert (root / "etc/vomeet/secrets" / secret).stat().st_mode & 0o777 == 0o600
    assert (root / "etc/vomeet/secrets/admin-api-key").stat().st_uid == uid
    assert installed_unit_release(root) == "0.1.0"
    assert (root / "usr/lib/sysusers.d/vomeet.conf").is_file()
    with sqlite3.connect(data / "vomeet.db") as db:
        assert db.execute("select version_num from alembic_version").fetchone(), "not migrated"
        assert [row[0] for row in db.execute("select username from console_admins")] == ["admin"]
    assert "console-admin-password" in result.stdout and "/ui" in result.stdout
    assert "bots run as local processes" in result.stdout
    vomeet(root, "admin", "create-user", "alice@example.com")  # data the later steps must keep


def test_a_second_install_changes_nothing(images: dict[str, Path], root: Path) -> None:
    before = tree_state(root)
    assert before, "nothing installed"
    result = run_install(images["0.1.0"], root)
    assert result.returncode == 0, result.stderr
    assert "nothing changed" in result.stdout
    assert tree_state(root) == before


def test_install_of_another_version_asks_for_upgrade(images: dict[str, Path], root: Path) -> None:
    result = run_install(images["0.1.1"], root)
    assert result.returncode == 2 and "--upgrade" in result.stderr


@pytest.mark.slow  # a trial `vomeet serve` with its worker child
def test_upgrade_keeps_users_and_tokens_and_serves(images: dict[str, Path], root: Path) -> None:
    token = vomeet(root, "admin", "create-token", "alice@example.com")
    result = run_install(images["0.1.1"], root, "--upgrade", "--ready-timeout", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    opt = root / "opt/vomeet"
    assert os.readlink(opt / "current") == "0.1.1" and os.readlink(opt / "previous") == "0.1.0"
    assert installed_unit_release(root) == "0.1.1"
    assert "alice@example.com" in vomeet(root, "admin", "list-users")
    prefix = next(word for word in token.split() if len(word) > 20)[:8]
    assert prefix in vomeet(root, "admin", "list-users"), "the token did not survive the upgrade"
    if has_backup_command():
        assert list((root / "var/lib/vomeet/backups").glob("pre-upgrade-0.1.0-to-0.1.1-*.tar.gz"))
    again = run_install(images["0.1.1"], root, "--upgrade")
    assert again.returncode == 0 and "nothing to upgrade" in again.stdout


@pytest.mark.slow  # a trial `vomeet serve` with its worker child
def test_an_upgrade_that_never_gets_ready_rolls_back_by_itself(images: dict[str, Path], root: Path) -> None:
    result = run_install(images["0.1.2"], root, "--upgrade", "--ready-timeout", "60")
    assert result.returncode == 6, result.stdout + result.stderr
    assert "rolling back to 0.1.1" in result.stdout and "Rolled back to vomeet 0.1.1" in result.stdout
    opt = root / "opt/vomeet"
    assert os.readlink(opt / "current") == "0.1.1" and os.readlink(opt / "previous") == "0.1.0"
    assert not (opt / "0.1.2").exists()
    assert installed_unit_release(root) == "0.1.1", "the rollback left the failed release's unit"
    if has_backup_command():  # the data as it was before the upgrade, restored
        assert "restored " in result.stdout and "pre-upgrade-0.1.1-to-0.1.2-" in result.stdout
    assert "alice@example.com" in vomeet(root, "admin", "list-users")
    settings = root / "etc/vomeet/vomeet.toml"
    assert settings.stat().st_mode & 0o777 == 0o640 and "asr_enabled = false" in settings.read_text()


@pytest.mark.slow  # a trial `vomeet serve` with its worker child
def test_rollback_returns_to_the_previous_version(images: dict[str, Path], root: Path) -> None:
    result = run_install(images["0.1.1"], root, "--rollback", "--ready-timeout", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.readlink(root / "opt/vomeet/current") == "0.1.0"
    assert installed_unit_release(root) == "0.1.0", "the rollback left the newer release's unit"
    assert "alice@example.com" in vomeet(root, "admin", "list-users")


def test_an_image_signed_by_another_key_cannot_upgrade_an_installed_box(
    images: dict[str, Path], root: Path, tmp_path: Path
) -> None:
    """The attacker also swaps the key inside install.sh: the key kept at install refuses it."""
    files = copy_of(images["0.1.1"], tmp_path)
    attacker = throwaway_key(tmp_path / "attacker")
    script = files / "install.sh"
    original = next(line for line in script.read_text().splitlines() if line.startswith("readonly SIGNING_PUBKEY="))
    script.write_text(script.read_text().replace(original, f'readonly SIGNING_PUBKEY="{attacker.public_line}"'))
    resign(files, attacker)
    result = run_install(files, root, "--upgrade")
    assert result.returncode == 3 and "REFUSED" in result.stderr
    assert os.readlink(root / "opt/vomeet/current") == "0.1.0"


def test_uninstall_keeps_the_data_and_purge_removes_it(images: dict[str, Path], root: Path) -> None:
    result = run_install(images["0.1.0"], root, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not (root / "opt/vomeet").exists() and not (root / "etc/systemd/system/vomeet.service").exists()
    assert (root / "var/lib/vomeet/vomeet.db").is_file() and (root / "etc/vomeet/vomeet.toml").is_file()
    assert "alice@example.com" in vomeet(root, "admin", "list-users")
    again = run_install(images["0.1.0"], root, "--uninstall")
    assert again.returncode == 0 and "nothing to remove" in again.stdout
    purged = run_install(images["0.1.0"], root, "--uninstall", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not (root / "var/lib/vomeet").exists() and not (root / "etc/vomeet").exists()
    assert "vomeet:" not in (root / "etc/passwd").read_text()


def test_an_image_for_another_architecture_is_refused_by_preflight(
    images: dict[str, Path], key: Key, tmp_path: Path
) -> None:
    files = copy_of(images["0.1.0"], tmp_path)
    [bundle] = (files / "bundle").iterdir()
    other = "arm64" if "-linux-amd64" not in bundle.name else "riscv64"
    bundle.rename(bundle.with_name(f"vomeet-0.1.0-linux-{other}.tar.zst"))
    resign(files, key)  # a genuine release, for another machine
    target = tmp_path / "target"
    target.mkdir()
    result = run_install(files, target)
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"this image is for {other}" in result.stderr
    assert not (target / "opt/vomeet").exists()
