"""Build the desktop client's one-dir bundle and pack it as
dist/vomeet-client-<version>-linux-<arch>.tar.zst (`make client-bundle`; docs/client.md).

The tarball holds `vomeet-client-<version>/` with the executable `vomeet-client`, PyInstaller's
`_internal/` and `VERSION`, packed as `make bundle` packs the appliance (packaging/build_bundle.py's
`pack`: sorted, owner root, mtimes from SOURCE_DATE_EPOCH, zstd).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from build_bundle import folder_size, pack, version

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "client.spec"
NAME = "vomeet-client"


def freeze(workdir: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(workdir / "dist"), "--workpath", str(workdir / "work"), str(SPEC)],
        cwd=ROOT, check=True,
    )
    return workdir / "dist" / NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "client-bundle",
                        help="PyInstaller's work and output folder (default: build/client-bundle)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the tarball goes (default: dist)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    bundle = freeze(args.workdir)
    built = time.monotonic()
    tarball = pack(bundle, version(), args.dist, NAME)
    print(f"bundle {bundle}: {folder_size(bundle) / 2**20:.0f} MiB; built in {built - started:.0f} s")
    print(f"packed {tarball}: {tarball.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - built:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
