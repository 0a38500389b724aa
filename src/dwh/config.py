"""Configuration from the environment and ``.env`` (prefix ``DWH_``).

Every setting has an embedded default under ``DWH_HOME``: with no DSN configured the warehouse
runs on embedded PostgreSQL (pgserver) and chDB. A DSN left empty means "use the embedded one".
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dwh.errors import ConfigError


class Settings(BaseSettings):
    """All settings of the warehouse; read once per process with :func:`get_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="DWH_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(default=Path(".dwh"), description="Where embedded engines keep their data.")
    source_dsn: str = Field(
        default="", description="Source PostgreSQL (written only by `dwh simulate`)."
    )
    replica_dsn: str = Field(default="", description="Read-only replica the ETL extracts from.")
    ods_dsn: str = Field(default="", description="ODS PostgreSQL (schema `ods`).")
    clickhouse_dsn: str = Field(
        default="", description="`chdb:///path` (embedded) or `http://user:pass@host:8123`."
    )
    sla_target_seconds: int = Field(default=3600, gt=0)
    order_class_bands: list[Decimal] = Field(
        default=[Decimal(500), Decimal(2000), Decimal(10000)],
        description="Upper bounds (rubles) of the cost bands that name `order_class`.",
    )
    extract_batch_rows: int = Field(default=250_000, gt=0)
    topic_name_triggers: str = Field(
        default="trigger-channel",
        validation_alias=AliasChoices("DWH_TOPIC_NAME_TRIGGERS", "TOPIC_NAME_TRIGGERS"),
    )
    topic_name_results: str = Field(
        default="result-channel",
        validation_alias=AliasChoices("DWH_TOPIC_NAME_RESULTS", "TOPIC_NAME_RESULTS"),
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("clickhouse_dsn")
    @classmethod
    def _known_clickhouse_scheme(cls, value: str) -> str:
        if value and not value.startswith(("chdb://", "http://", "https://", "clickhouse://")):
            raise ValueError("must start with chdb://, http:// or https://")
        return value

    @field_validator("source_dsn", "replica_dsn", "ods_dsn")
    @classmethod
    def _postgres_scheme(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @property
    def embedded_clickhouse_dsn(self) -> str:
        """The chDB DSN used when ``DWH_CLICKHOUSE_DSN`` is empty."""
        return f"chdb://{self.home / 'chdb'}"

    @property
    def effective_clickhouse_dsn(self) -> str:
        """The ClickHouse DSN in force: the configured one, else embedded chDB."""
        return self.clickhouse_dsn or self.embedded_clickhouse_dsn


def get_settings() -> Settings:
    """Read settings, turning validation errors into one :class:`ConfigError` per bad setting."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "DWH_" + str(first["loc"][0]).upper() if first["loc"] else "configuration"
        raise ConfigError(name, first["msg"]) from None
