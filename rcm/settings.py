"""Settings from the environment, prefix RCM_ (DESIGN.md, Settings).

Secrets never live here: SFTP keys and passwords are referenced by name from config files and
resolved from the environment or a Prefect Secret block by the connectors.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_config_dir() -> Path:
    local = Path.cwd() / "config"
    return local if local.is_dir() else PROJECT_ROOT / "config"


def _default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/rcm, else ~/.cache/rcm: per user and host, shared by every process and
    checkout (what is cached there is keyed by its source's version)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "rcm"
    try:
        return Path.home() / ".cache" / "rcm"
    except RuntimeError:  # no home directory (some containers)
        return Path(tempfile.gettempdir()) / "rcm-cache"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RCM_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/rcm.db",
        description="SQLAlchemy URL. SQLite is the embedded default; PostgreSQL in production.",
    )
    archive_url: str = Field(
        default="file://./var/archive",
        description="file://PATH for a local folder, s3://bucket/prefix for S3.",
    )
    config_dir: Path = Field(default_factory=_default_config_dir)
    log_json: bool = False
    log_level: str = "INFO"
    var_dir: Path = Path("./var")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Derived files rebuilt when missing or stale (the ICD-10-CM code set).",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Alternative S3 endpoint (moto, MinIO); None for AWS."
    )
    s3_sse: str = Field(default="AES256", description="AES256 or aws:kms")
    s3_kms_key_id: str | None = None
    s3_object_lock_days: int | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Forget cached settings (tests that change RCM_* variables call this)."""
    get_settings.cache_clear()
