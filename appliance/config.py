"""The appliance's one settings model.

Every setting comes from, in order of precedence: an environment variable ``VOMEET_<NAME>``,
the TOML file named by ``VOMEET_CONFIG_FILE`` (keys are the lower-case names), then the default.
Secrets are never given inline: they are read from files (``*_file`` settings) so that they stay
out of process listings and logs. Durations carry their unit in their name (``_s`` = seconds).
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "VOMEET_"
CONFIG_FILE_ENV = "VOMEET_CONFIG_FILE"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the setting and how to fix it."""


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the optional TOML file named by VOMEET_CONFIG_FILE."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is None:
            return
        try:
            self._data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{CONFIG_FILE_ENV}={path}: the file does not exist. "
                f"Fix: point {CONFIG_FILE_ENV} at an existing TOML file or unset it."
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{CONFIG_FILE_ENV}={path}: not valid TOML ({exc}). Fix: correct the file's syntax."
            ) from exc
        known = set(settings_cls.model_fields)
        unknown = sorted(set(self._data) - known)
        if unknown:
            raise ConfigError(
                f"{path}: unknown setting(s) {', '.join(unknown)}. "
                "Fix: remove them or check their spelling against docs/configuration.md."
            )

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class Settings(BaseSettings):
    """All settings of the appliance. Field descriptions double as the documentation."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data_dir: Path = Field(
        Path("./data"),
        description="Directory for the database, the task queue, recordings and models "
        "(`./data` in development, `/var/lib/vomeet` when installed).",
    )
    host: str = Field("0.0.0.0", description="Address the REST/WebSocket/console server binds to.")
    port: int = Field(8056, ge=1, le=65535, description="Port of the REST/WebSocket/console server.")
    # TLS (appliance/tls/, docs/tls.md): the LAN port speaks HTTPS; plain HTTP stays on loopback.
    tls: Literal["auto", "on", "off"] = Field(
        "auto",
        description="HTTPS on the LAN port: `auto` (on unless `host` is a loopback address), `on` or "
        "`off`. With it on, plain HTTP listens on `127.0.0.1:<loopback_port>` only.",
    )
    loopback_port: int = Field(
        8057, ge=1, le=65535,
        description="Port of the plain-HTTP listener on 127.0.0.1 when TLS is on (what the box's own "
        "bots, worker and `vomeet` commands dial).",
    )
    tls_cert_file: Path | None = Field(
        None,
        description="An operator's certificate (PEM, leaf first, then any intermediates), e.g. from the "
        "company CA, served instead of the box's own; needs `tls_key_file`.",
    )
    tls_key_file: Path | None = Field(
        None, validate_default=True,
        description="The private key (unencrypted PEM, mode 600) of `tls_cert_file`.",
    )
    public_url: str | None = Field(
        None,
        description="Base URL people use to reach the appliance (used in share links); "
        "defaults to http://<host>:<port>.",
    )
    admin_api_key_file: Path | None = Field(
        None,
        description="File holding the admin API key, for automated installs. When unset, a key is "
        "created at first start and printed once.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log verbosity: debug, info, warning or error."
    )
    default_max_concurrent_bots: int = Field(
        1, ge=0, description="Concurrent-bot limit given to new users (0 = unlimited)."
    )
    bot_runtime: Literal["process"] = Field(
        "process", description="Where bots run: `process` (local child processes)."
    )
    bot_stop_grace_s: float = Field(
        30.0,
        gt=0,
        description="Seconds a bot is given to leave after a stop request before it is killed.",
    )
    bot_join_timeout_s: float = Field(
        60.0, gt=0, description="Seconds a bot may spend opening the meeting page before it gives up."
    )
    schedule_lead_s: float = Field(
        60.0, ge=0,
        description="Seconds before a calendar meeting's start that its bot is started.",
    )
    schedule_skip_after_s: float = Field(
        600.0, gt=0,
        description="A scheduled meeting whose start is more than this many seconds ago gets no "
        "bot (skipped, with the reason); POST /bots refuses a `join_at` further in the past.",
    )
    chromium_path: Path | None = Field(
        None,
        description="Chromium executable for the bots; when unset, Debian's chromium-headless-shell "
        "(the lighter headless build), else chromium, chromium-browser or google-chrome on PATH.",
    )
    google_meet_base_url: str = Field(
        "https://meet.google.com", description="Base URL bots open for Google Meet meetings."
    )
    teams_base_url: str = Field(
        "https://teams.live.com", description="Base URL bots open for Microsoft Teams meetings."
    )
    zoom_base_url: str = Field(
        "https://app.zoom.us", description="Base URL bots open for Zoom meetings (web client)."
    )
    # Google Calendar and Microsoft Graph (appliance/calendars/google.py, microsoft.py): endpoints
    # are settings so that tests point them at their doubles; contacted only for a connection.
    calendar_google_api_url: str = Field(
        "https://www.googleapis.com/calendar/v3", description="Base URL of the Google Calendar API (v3)."
    )
    calendar_google_token_url: str = Field(
        "https://oauth2.googleapis.com/token", description="Google's OAuth token endpoint."
    )
    calendar_google_auth_url: str = Field(
        "https://accounts.google.com/o/oauth2/v2/auth",
        description="Google's OAuth authorisation endpoint, which the desktop client opens in the browser.",
    )
    calendar_google_client_id: str | None = Field(
        None,
        description="OAuth client id (a Desktop app client) for users' Google calendars; the desktop "
        "client signs in with it and the box refreshes with it.",
    )
    calendar_google_client_secret_file: Path | None = Field(
        None, description="File holding that Google OAuth client's secret.",
    )
    calendar_microsoft_graph_url: str = Field(
        "https://graph.microsoft.com/v1.0", description="Base URL of Microsoft Graph."
    )
    calendar_microsoft_login_url: str = Field(
        "https://login.microsoftonline.com",
        description="Microsoft identity platform (device sign-in and token endpoints).",
    )
    calendar_microsoft_client_id: str | None = Field(
        None,
        description="Application (client) id of the public client app registered for users' "
        "Microsoft 365 calendars (device sign-in, delegated Calendars.Read).",
    )
    calendar_microsoft_tenant: str = Field(
        "common", description="Tenant users sign in to: `common`, `organizations`, or a tenant id or domain."
    )
    asr_enabled: bool = Field(
        True, description="Whether `serve` runs the streaming ASR server (`vomeet asr`) as a child."
    )
    asr_host: str = Field("127.0.0.1", description="Address of the streaming ASR server.")
    asr_port: int = Field(9090, ge=1, le=65535, description="Port of the streaming ASR server.")
    asr_model: str | None = Field(
        None,
        description="Whisper model the ASR server loads: the name of a CTranslate2 model folder under "
        "`<data_dir>/models/` (or a path to one); when unset, the packaged tiny.en "
        "(`vomeet models list` shows what is installed).",
    )
    # The OpenAI-compatible /v1/audio endpoints (appliance/file_transcription.py).
    openai_audio_max_bytes: int = Field(
        25 * 1024 * 1024, gt=0,
        description="Largest audio file, in bytes, that `/v1/audio/transcriptions` and `/translations` "
        "take (OpenAI's limit, 25 MB).",
    )
    openai_audio_max_duration_s: float = Field(
        1800.0, gt=0, description="Longest audio, in seconds, that they transcribe; a longer file is refused.",
    )
    openai_audio_pace: float = Field(
        10.0, gt=0,
        description="How many times faster than real time an uploaded file is streamed to the ASR server, "
        "whose model it shares with live meetings.",
    )
    child_restart_limit: int = Field(
        5,
        ge=0,
        description="How many times the supervisor restarts a crashed child within "
        "`child_restart_window_s` before giving up on it.",
    )
    child_restart_window_s: float = Field(
        300.0, gt=0, description="Window, in seconds, over which child restarts are counted."
    )
    child_backoff_max_s: float = Field(
        30.0, gt=0, description="Longest wait, in seconds, between two restarts of a child."
    )
    # mDNS (appliance/discovery/, docs/discovery.md): announce the box, find desktop clients.
    mdns: bool = Field(
        True,
        description="Announce the appliance on the LAN by mDNS (`_vomeet._tcp`, and the console) and "
        "look for desktop clients announcing `_vomeet-client._tcp`.",
    )
    mdns_name: str | None = Field(
        None, description="The name the appliance is announced under; defaults to the host name.",
    )
    mdns_interfaces: str | None = Field(
        None,
        description="Comma-separated interface names or patterns (`eth*`) mDNS may use; when unset, "
        "every LAN interface. Container and tunnel interfaces are never used.",
    )
    mdns_exclude_interfaces: str | None = Field(
        None, description="Comma-separated interface names or patterns mDNS must not use, besides the built-in ones.",
    )
    mdns_loopback: bool = Field(
        False, description="Also announce on loopback (127.0.0.1): for tests and single-machine set-ups.",
    )
    mdns_poll_s: float = Field(
        3.0, gt=0, description="Seconds between two checks of the interfaces' addresses; a change is re-announced.",
    )
    webhook_allow_internal_targets: bool = Field(
        False,
        description="Allow webhooks to loopback, link-local and metadata addresses "
        "(private LAN addresses are always allowed).",
    )
    webhook_timeout_s: float = Field(10.0, gt=0, description="Seconds a webhook receiver has to answer.")
    webhook_retry_base_s: float = Field(
        10.0, gt=0, description="First retry delay of a failed webhook; each next one is 3x longer (at most 1 h)."
    )
    webhook_retry_window_s: float = Field(
        86400.0, gt=0, description="Seconds after which a webhook that still fails is given up."
    )
    retention_days: int = Field(
        0,
        ge=0,
        description="Days after a meeting ends before its transcript and recordings are removed "
        "(checked hourly; 0 = keep forever).",
    )
    waiting_room_timeout_s: int = Field(
        900, gt=0, description="Default seconds a bot waits in a lobby before leaving."
    )
    nobody_joined_timeout_s: int = Field(
        600, gt=0, description="Default seconds a bot waits for anyone to join before leaving."
    )
    left_alone_timeout_s: int = Field(
        60, gt=0, description="Default seconds a bot stays once everybody else has left."
    )
    max_duration_s: int = Field(
        14400, gt=0, description="Default longest time, in seconds, a bot stays in a meeting."
    )
    # Bot admission (appliance/capacity.py): POST /bots answers 503 when the box is full.
    capacity_cpu_cores: float = Field(
        0.0, ge=0,
        description="CPU cores the appliance, its ASR and its bots may use (0 = every core of the box).",
    )
    capacity_reserved_cores: float = Field(
        0.4, ge=0,
        description="Cores kept free when admitting a bot: the API, the task worker, and the idle "
        "time the ASR needs to keep its latency.",
    )
    capacity_bot_cpu_cores: float = Field(
        0.19, gt=0,
        description="CPU, in cores, counted for a bot not measured yet (its first minute, and the "
        "one asked for); older bots count at what they are measured to use.",
    )
    capacity_bot_memory_mb: float = Field(
        360.0, gt=0, description="Memory (PSS, MB) a new bot is expected to take.",
    )
    capacity_asr_cpu_cores_per_bot: float = Field(
        0.14, ge=0,
        description="CPU, in cores, the local ASR server needs per meeting (two speakers) to keep up; "
        "counted only when the appliance runs the ASR (`asr_enabled`).",
    )
    capacity_memory_headroom_mb: float = Field(
        1024.0, ge=0, description="Memory (MB) that must stay available after a new bot is admitted.",
    )
    capacity_asr_lag_budget_s: float = Field(
        2.0, gt=0,
        description="A new bot is refused while the ASR server reports more lag than this, in seconds.",
    )
    capacity_retry_after_s: int = Field(
        60, gt=0,
        description="`Retry-After`, in seconds, of a refusal that only a meeting's end can lift.",
    )
    # Pairing desktop clients (appliance/devices/, docs/pairing.md).
    pairing_expiry_s: float = Field(
        300.0, gt=0, description="Seconds a pairing request waits for approval on the console.",
    )
    pairing_request_limit: int = Field(
        10, gt=0, description="Pairing requests one client address may make in 10 minutes.",
    )
    pairing_poll_limit: int = Field(
        60, gt=0, description="Polls a minute a client may make for one pairing request.",
    )
    # Calendar connections (appliance/calendars/, docs/calendars.md).
    calendar_sync_interval_s: float = Field(
        300.0, ge=30, description="Seconds between two syncs of a calendar connection that works.",
    )
    calendar_sync_window_past_days: float = Field(
        1.0, ge=0, description="Days before now from which calendar events are read.",
    )
    calendar_sync_window_ahead_days: float = Field(
        14.0, gt=0, description="Days after now up to which calendar events are read.",
    )

    @field_validator("google_meet_base_url", "teams_base_url", "zoom_base_url", "public_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("calendar_google_api_url", "calendar_google_token_url", "calendar_google_auth_url",
                     "calendar_microsoft_graph_url",
                     "calendar_microsoft_login_url")
    @classmethod
    def _calendar_endpoint(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def read_calendar_google_client_secret(self) -> str | None:
        if self.calendar_google_client_secret_file is None:
            return None
        try:
            return self.calendar_google_client_secret_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ConfigError(
                f"VOMEET_CALENDAR_GOOGLE_CLIENT_SECRET_FILE={self.calendar_google_client_secret_file}: "
                f"cannot read it ({exc.strerror}). Fix: create the file (mode 600) or unset the setting."
            ) from exc

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = os.environ.get(CONFIG_FILE_ENV)
        return (
            init_settings,
            env_settings,
            _TomlFileSource(settings_cls, Path(toml_path) if toml_path else None),
        )

    # Derived paths: kept as properties so that only data_dir needs configuring.
    @cached_property
    def database_path(self) -> Path:
        return self.data_dir / "vomeet.db"

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.database_path}"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def state_dir(self) -> Path:
        """Runtime state shared between the supervisor and its children (pid files, status)."""
        return self.data_dir / "run"

    @property
    def loopback_host(self) -> str:
        """The address a process on this machine dials to reach the API: the bind address,
        unless that is every interface (0.0.0.0 or ::), which is not an address to dial."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host

    @property
    def tls_enabled(self) -> bool:
        """Whether the LAN port speaks HTTPS (`tls`: auto = unless the server binds loopback only)."""
        if self.tls != "auto":
            return self.tls == "on"
        return not (self.host == "localhost" or self.host.startswith("127.") or self.host == "::1")

    @property
    def loopback_url(self) -> str:
        """How a child on this machine reaches the API, whatever address it listens on: with TLS
        on, the plain-HTTP listener on loopback (children need no pin)."""
        if self.tls_enabled:
            return f"http://127.0.0.1:{self.loopback_port}"
        return f"http://{self.loopback_host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.public_url or self.loopback_url

    def ensure_dirs(self) -> None:
        """Create the data directory tree, readable by the service user only."""
        for path in (self.data_dir, self.recordings_dir, self.models_dir, self.logs_dir, self.state_dir):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o700)

    @field_validator("tls_key_file")
    @classmethod
    def _tls_key_with_cert(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (value is None) != (info.data.get("tls_cert_file") is None):
            raise ValueError("VOMEET_TLS_CERT_FILE and VOMEET_TLS_KEY_FILE are set together or not at all")
        return value

    def read_admin_key_file(self) -> str | None:
        if self.admin_api_key_file is None:
            return None
        try:
            key = self.admin_api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"VOMEET_ADMIN_API_KEY_FILE={self.admin_api_key_file}: cannot read it ({exc.strerror}). "
                "Fix: create the file (mode 600) holding the admin key, or unset the setting."
            ) from exc
        if len(key) < 32:
            raise ConfigError(
                f"VOMEET_ADMIN_API_KEY_FILE={self.admin_api_key_file}: the key is {len(key)} characters; "
                "at least 32 are needed. Fix: put a longer random key in the file "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
            )
        return key


def _describe_error(error: ErrorDetails) -> str:
    name = str(error["loc"][0]) if error.get("loc") else "?"
    field = Settings.model_fields.get(name)
    hint = field.description if field is not None else ""
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{ENV_PREFIX}{name.upper()}: {error['msg']}{shown}. Fix: set it correctly — {hint}"


def load_settings(**overrides: Any) -> Settings:
    """Build and validate the settings; raises ConfigError with a readable message."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [_describe_error(err) for err in exc.errors()]
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(lines)) from exc


def settings_reference_markdown() -> str:
    """The table in docs/configuration.md, generated from the model so the docs cannot drift."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "(unset)" if default is None else f"`{default}`"
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(rows) + "\n"
