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
    clickhouse_cluster: str = Field(
        default="",
        pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$",
        description="ClickHouse cluster (`remote_servers`) for `ON CLUSTER` DDL with replicated "
        "local tables and `Distributed` facts; empty: one server (or chDB), plain tables.",
    )
    sla_target_seconds: int = Field(default=3600, gt=0)
    order_class_bands: list[Decimal] = Field(
        default=[Decimal(500), Decimal(2000), Decimal(10000)],
        description="Upper bounds (rubles) of the cost bands that name `order_class`.",
    )
    first_load_slice_rows: int = Field(
        default=1_000_000,
        gt=0,
        description="Source rows per slice of a first load (memory is bounded by a slice).",
    )
    prometheus_url: str = Field(
        default="", description="Prometheus HTTP API, e.g. `http://127.0.0.1:9090`."
    )
    prometheus_queries: list[str] = Field(
        default=[],
        description="PromQL expressions `dwh run metrics` ingests (JSON list); empty = "
        "`dwh.metrics.DEFAULT_QUERIES` (the prober's metrics, process metrics, dwh's own).",
    )
    prometheus_step_seconds: int = Field(default=15, ge=1, description="query_range step.")
    prometheus_lookback_seconds: int = Field(
        default=86_400, ge=1, description="How far back the first metrics run starts."
    )
    prometheus_batch_seconds: int = Field(
        default=21_600, ge=1, description="Longest time range fetched by one request."
    )
    prometheus_delay_seconds: int = Field(
        default=30,
        ge=0,
        description="Samples younger than this wait for the next run (late scrapes settle).",
    )
    prometheus_timeout_seconds: float = Field(default=30.0, gt=0)
    pushgateway_url: str = Field(
        default="", description="Pushgateway that batch runs push their metrics to."
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65_535, description="Port of long-running processes' /metrics; 0: off."
    )
    metrics_address: str = Field(default="127.0.0.1", description="Address /metrics binds to.")
    topic_name_triggers: str = Field(
        default="trigger-channel",
        validation_alias=AliasChoices("DWH_TOPIC_NAME_TRIGGERS", "TOPIC_NAME_TRIGGERS"),
    )
    topic_name_results: str = Field(
        default="result-channel",
        validation_alias=AliasChoices("DWH_TOPIC_NAME_RESULTS", "TOPIC_NAME_RESULTS"),
    )
    kafka_bootstrap_servers: str = Field(
        default="",
        description="Kafka brokers (`host:port,...`); empty: `dwh demo` runs an embedded broker.",
    )
    kafka_group_id: str = Field(default="dwh-events", min_length=1)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000, le=300_000)
    events_batch_size: int = Field(default=50_000, gt=0, description="Records per batch, at most.")
    events_batch_seconds: float = Field(
        default=1.0, gt=0, description="How long to wait for a batch to fill."
    )
    events_max_message_bytes: int = Field(
        default=65_536, gt=0, description="Larger records go to ods.events_dead_letter."
    )
    events_retention_months: int = Field(
        default=0, ge=0, description="Drop ods.events partitions older than this; 0 keeps all."
    )
    events_refresh_seconds: float = Field(
        default=30.0, ge=0, description="How often the consumer refreshes the event aggregates."
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

    @field_validator("prometheus_url", "pushgateway_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

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
