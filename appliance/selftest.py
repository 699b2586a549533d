"""`vomeet selftest`: proves this installation of the program can do each of its jobs.

Run after a build (the frozen bundle must carry every lazily imported module, data file and native
library) and after an install. Each check does the real thing once: import every module of the
program and the backends loaded by name, run the VAD model on a frame of noise, load the Whisper
model in use and decode a second of audio, start the bots' Chromium on about:blank, and migrate
and open a copy of the database. Nothing is written outside a temporary folder.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.config import Settings

# The program's own packages (each role's code is imported inside its command) and what the
# program loads by name at run time: uvicorn's loops and protocols, SQLAlchemy's async SQLite
# dialect, huey's consumer, the native runtimes.
PACKAGES = ("appliance", "asr", "bot", "admin_ui")
BACKENDS = (
    "uvicorn.loops.auto", "uvicorn.loops.uvloop", "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.h11_impl", "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.auto", "uvicorn.protocols.websockets.websockets_sansio_impl",
    "uvicorn.lifespan.on", "sqlalchemy.dialects.sqlite.aiosqlite", "aiosqlite", "huey.consumer",
    "huey.consumer_options", "huey.storage", "alembic.runtime.migration", "ctranslate2", "faster_whisper",
    "onnxruntime", "av", "numpy", "tokenizers", "playwright.async_api", "argon2", "prometheus_client", "pynvml",
    "multipart", "jinja2", "swagger_ui_bundle", "websockets", "psutil",
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float


def _modules() -> Iterator[str]:
    for package in PACKAGES:
        root = importlib.import_module(package)
        yield package
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            # Migrations are scripts alembic runs (check_database); __main__ modules run a CLI.
            if ".migrations" not in info.name and not info.name.endswith(".__main__"):
                yield info.name
    yield from BACKENDS


def check_imports(settings: Settings) -> str:
    names = list(_modules())
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001  (any failure to import is the finding)
            failed.append(f"{name}: {type(error).__name__}: {error}")
    if failed:
        raise RuntimeError("; ".join(failed))
    return f"{len(names)} modules"


def check_vad(settings: Settings) -> str:
    import numpy as np

    from asr.vad import FRAME, SileroStream

    noise = np.random.default_rng(0).uniform(-0.5, 0.5, FRAME * 4).astype(np.float32)
    probs = SileroStream()(noise)
    return f"Silero VAD ran on {len(probs)} frames of noise"


def check_model(settings: Settings) -> str:
    import numpy as np

    from appliance.asr_models import model_in_use
    from asr.models import load_model

    model = model_in_use(settings)
    loaded = load_model(str(model.path), device="cpu", cpu_threads=1)
    segments, _ = loaded.whisper.transcribe(np.zeros(16000, np.float32), beam_size=1, language="en")
    list(segments)  # decoding runs lazily: consume it
    return f"{model.name} from {model.path} decoded 1 s of audio on cpu"


# Opens about:blank in a Chromium as a bot starts it and says what it opened. The composition root
# (appliance/cli.py) passes bot.browser.open_blank, so the core imports nothing of the bot.
BlankOpener = Callable[[Path], Coroutine[Any, Any, str]]


def browser_check(open_blank: BlankOpener) -> Callable[[Settings], str]:
    def check_browser(settings: Settings) -> str:
        from appliance.browser import find_chromium

        executable = find_chromium(settings.chromium_path)
        if executable is None:
            raise RuntimeError(
                "no Chromium found (apt-get install chromium-headless-shell, or set VOMEET_CHROMIUM_PATH)"
            )
        return asyncio.run(open_blank(executable))

    return check_browser


def check_database(settings: Settings) -> str:
    """Migrate a copy (an online backup when the database exists, else a new file) and query it."""
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import AsyncSession

    from appliance.db import migrate
    from appliance.db.engine import run_in_session
    from appliance.db.models import User

    with tempfile.TemporaryDirectory(prefix="vomeet-selftest-") as scratch:
        copy = Settings(data_dir=Path(scratch))
        source = settings.database_path
        if source.is_file():
            live = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            with closing(live), closing(sqlite3.connect(copy.database_path)) as out:
                live.backup(out)
        before = migrate.current_revision(copy)
        migrate.upgrade(copy)

        async def users(session: AsyncSession) -> int:
            return int(await session.scalar(select(func.count()).select_from(User)) or 0)

        count = asyncio.run(run_in_session(copy, users))
        origin = f"copy of {source}" if source.is_file() else "new database"
        return f"{origin}: revision {before or 'base'} -> {migrate.current_revision(copy)}, {count} user(s)"


def checks(open_blank: BlankOpener) -> tuple[tuple[str, Callable[[Settings], str]], ...]:
    return (
        ("imports", check_imports),
        ("vad", check_vad),
        ("model", check_model),
        ("database", check_database),
        # last: it switches this process's environment to the external one
        ("browser", browser_check(open_blank)),
    )


def run(
    settings: Settings, report: Callable[[Check], None],
    to_run: tuple[tuple[str, Callable[[Settings], str]], ...],
) -> list[Check]:
    """Run every check in order, reporting each as it ends; a failing check does not stop the rest."""
    results = []
    for name, check in to_run:
        started = time.monotonic()
        try:
            result = Check(name, True, check(settings), time.monotonic() - started)
        except Exception as error:  # noqa: BLE001  (reported, and the exit status says it failed)
            result = Check(name, False, f"{type(error).__name__}: {error}", time.monotonic() - started)
        report(result)
        results.append(result)
    return results
