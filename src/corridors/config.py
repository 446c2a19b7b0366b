"""Settings, read once from ``CORRIDORS_*`` environment variables.

Build one :class:`Settings` at start-up (``Settings()``) and pass it down; nothing in the
core reads the environment itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SHIPPED_DATA_DIR", "Settings"]

#: The project's top-level ``data/`` folder (demo network, risk model, escort policy).
#: The package is installed in place (``pip install -e .``), locally and in the image.
SHIPPED_DATA_DIR = Path(__file__).resolve().parents[2] / "data"


class Settings(BaseSettings):
    """Service settings. Every field is ``CORRIDORS_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CORRIDORS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="Where the service writes at run time: graph cache, SQLite database.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default SQLite at <data_dir>/corridors.sqlite3. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    graph_cache: Path | None = Field(
        default=None,
        description="Graph cache file (.npz) to serve; default the cache last made by "
        "`corridors graph build|fetch` (<data_dir>/graphs/active.json).",
    )
    osm_file: Path | None = Field(
        default=None, description="OSM file to build at start-up when no cache is found."
    )
    demo_osm_file: Path = Field(
        default=SHIPPED_DATA_DIR / "port-au-prince-demo.osm",
        description="Embedded demo network, used when neither a cache nor an OSM file is set.",
    )
    include_tracks: bool = Field(default=False, description="Keep highway=track ways.")
    max_snap_m: float = Field(default=500.0, gt=0, description="Farthest snap to a road, m.")
    service_margin_m: float = Field(
        default=2000.0, ge=0, description="Service area = graph bbox widened by this, m."
    )
    risk_model_file: Path = Field(
        default=SHIPPED_DATA_DIR / "risk-model.toml",
        description="Risk model constants (validated at start-up).",
    )
    escort_policy_file: Path = Field(
        default=SHIPPED_DATA_DIR / "escort-policy.toml",
        description="Escort policy (validated at start-up; a bad file names its line).",
    )
    risk_refresh_s: float = Field(
        default=60.0, gt=0, description="Full risk refresh period (time decay), seconds."
    )
    host: str = Field(default="127.0.0.1", description="Address `corridors serve` binds.")
    port: int = Field(default=8000, description="Port `corridors serve` listens on.")
    log_level: str = Field(default="info", description="uvicorn log level.")
    cors_origins: list[str] = Field(default_factory=list, description="Closed by default.")
    max_body_bytes: int = Field(default=1_000_000, gt=0, description="Largest JSON body.")
    max_import_bytes: int = Field(default=20_000_000, gt=0, description="Largest import file.")
    write_rate_per_minute: int = Field(default=120, gt=0, description="Writes per key per min.")
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) encrypting webhook secrets at rest; comma-separated, the "
        "first encrypts, all decrypt (rotation). Default: <data_dir>/secret.key, made on "
        "first use with 0600 permissions. Set it when several hosts share one database.",
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook delivery attempt, seconds."
    )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'corridors.sqlite3').resolve()}"

    @property
    def graphs_dir(self) -> Path:
        """Folder of graph caches under the data dir."""
        return self.data_dir / "graphs"
