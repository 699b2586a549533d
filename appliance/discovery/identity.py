"""The appliance's stable id: the TXT `id` a client recognises the box by when its name or
address changes. Made once, kept in the data directory; not a secret."""

from __future__ import annotations

import logging
import os
import uuid

from appliance.config import Settings

log = logging.getLogger(__name__)
ID_FILE = "appliance-id"


def appliance_id(settings: Settings) -> str:
    path = settings.data_dir / ID_FILE
    try:
        return str(uuid.UUID(path.read_text(encoding="utf-8").strip()))
    except FileNotFoundError:
        pass
    except ValueError:
        log.warning("%s does not hold a UUID; making a new appliance id", path)
        path.unlink()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    made = str(uuid.uuid4())
    partial = path.with_name(f".{ID_FILE}.{os.getpid()}")
    partial.write_text(made + "\n", encoding="utf-8")
    try:
        os.link(partial, path)  # the first writer wins; a second process reads its id
    except FileExistsError:
        return str(uuid.UUID(path.read_text(encoding="utf-8").strip()))
    finally:
        partial.unlink()
    return made
