"""Copy files out of a Vomeet USB image without mounting it (no loop device, no root needed).

The VOMEET partition's offset comes from the GPT (`sfdisk --json`); debugfs reads the ext4
filesystem at that offset and dumps a path, symlinks and modes kept. With root and a loop device
`mount -o ro,offset=<bytes> IMG /mnt` does the same (packaging/README.md, "Image").

    python packaging/read_image.py dist/vomeet-0.1.0-usb.img OUTDIR [--path /install.sh]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

LABEL = "VOMEET"


def partition_offset(image: Path) -> int:
    """Byte offset of the partition named VOMEET (the image's only one)."""
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], check=True, capture_output=True,
                                      text=True).stdout)["partitiontable"]
    sector = int(table.get("sectorsize", 512))
    for partition in table["partitions"]:
        if partition.get("name") == LABEL:
            return int(partition["start"]) * sector
    raise SystemExit(f"{image}: no partition named {LABEL}")


def extract(image: Path, out: Path, path: str = "/") -> Path:
    """Dump `path` of the image's filesystem into `out` (a folder's content, or one file)."""
    out.mkdir(parents=True, exist_ok=True)
    device = f"{image}?offset={partition_offset(image)}"
    result = subprocess.run(["debugfs", "-R", f'rdump "{path}" "{out}"', device], capture_output=True, text=True)
    # debugfs reports a missing path on stderr but exits 0.
    problems = [line for line in result.stderr.splitlines() if not line.startswith("debugfs ")]
    if result.returncode != 0 or problems:
        raise SystemExit(f"debugfs could not read {path} from {image}: {' '.join(problems) or result.returncode}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("out", type=Path, help="folder to copy into")
    parser.add_argument("--path", default="/", help="what to copy (default: everything)")
    args = parser.parse_args(argv)
    extract(args.image, args.out, args.path)
    print(f"{args.path} of {args.image} copied into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
