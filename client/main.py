"""`vomeet-client`: the desktop client (docs/client.md).

    vomeet-client                       # finds appliances on this network
    vomeet-client --theme dark          # light, dark, or system (the default: follow the desktop)
    vomeet-client --config-dir DIR      # settings elsewhere than ~/.config/vomeet-client
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from client.store import ClientStore
from client.ui import theme
from client.ui.window import MainWindow


def client_version() -> str:
    try:
        return importlib.metadata.version("vomeet")
    except importlib.metadata.PackageNotFoundError:  # a bundle without the project's metadata
        return "0"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vomeet-client", description="The Vomeet desktop client.")
    parser.add_argument("--config-dir", type=Path, help="where settings are kept (default ~/.config/vomeet-client)")
    parser.add_argument("--theme", choices=[t.value for t in theme.Theme],
                        help="light, dark or system; remembered (default: what was chosen last, else system)")
    parser.add_argument("--interface", action="append", metavar="ADDRESS",
                        help="look for appliances only on the interface with this address (repeatable)")
    parser.add_argument("--version", action="version", version=f"vomeet-client {client_version()}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Vomeet")
    app.setDesktopFileName("vomeet-client")
    store = ClientStore(args.config_dir)
    window = MainWindow(store, client_version(), interfaces=args.interface)
    if args.theme:
        window.set_theme(theme.Theme(args.theme))
    else:
        theme.apply(app, window.preferences.theme())
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
