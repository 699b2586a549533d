"""The frozen program's entry point: `vomeet <role> ...`, every role of the source install."""

import multiprocessing

# First thing, before any import that may start a process (PyInstaller's advice for one-dir
# bundles): a multiprocessing child re-entering this executable must not run the CLI.
multiprocessing.freeze_support()

from appliance.cli import main  # noqa: E402  (after freeze_support on purpose)

main(prog_name="vomeet")
