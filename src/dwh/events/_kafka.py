"""confluent-kafka configuration and the one-line reporting of broker trouble.

librdkafka retries unreachable brokers by itself and reports every failed attempt (to its
log and the error callback), several lines a second. A person needs one line that names the
setting, then silence until something changes: :class:`BrokerHealth` turns the callback into
that, and librdkafka's own log goes to the ``dwh.events.librdkafka`` logger at DEBUG.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError

from dwh.errors import DwhError, mask_secrets
from dwh.events._metrics import EventMetrics

log = logging.getLogger("dwh.events")
_librdkafka_log = logging.getLogger("dwh.events.librdkafka")

SETTING = "DWH_KAFKA_BOOTSTRAP_SERVERS"
# Codes that mean "cannot talk to the cluster right now"; librdkafka keeps retrying.
_UNREACHABLE = {
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE,
    KafkaError._TIMED_OUT,
}
_REPEAT_SECONDS = 60.0


class _DebugLog:
    """librdkafka's log lines, demoted to DEBUG (confluent-kafka calls ``.log``)."""

    def log(self, level: int, message: str, *args: object) -> None:
        _librdkafka_log.debug(message, *args)


class BrokerHealth:
    """Receives librdkafka's error callback; reports an outage once (and every minute while
    it lasts), its end once, and keeps a fatal error for the consumer loop to raise."""

    def __init__(self, bootstrap_servers: str, metrics: EventMetrics) -> None:
        self._servers = mask_secrets(bootstrap_servers)
        self._metrics = metrics
        self._down_since: float | None = None
        self._last_report = 0.0
        self.fatal: str | None = None

    def on_error(self, error: KafkaError) -> None:
        """The ``error_cb`` of the consumer and producer."""
        self._metrics.add(broker_errors=1)
        reason = " ".join(str(error.str()).split())
        if error.fatal():
            self.fatal = reason
            return
        if error.code() not in _UNREACHABLE:
            log.warning("Kafka: %s", reason)
            return
        now = time.monotonic()
        if self._down_since is None or now - self._last_report >= _REPEAT_SECONDS:
            again = "" if self._down_since is None else " still"
            log.warning(
                "Kafka%s unreachable at %s=%s (%s); retrying",
                again,
                SETTING,
                self._servers,
                reason,
            )
            self._last_report = now
        if self._down_since is None:
            self._down_since = now

    def reachable(self) -> None:
        """Call when the broker answered (records arrived, offsets committed)."""
        if self._down_since is not None:
            log.warning(
                "Kafka reachable again at %s after %.0f s",
                self._servers,
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def raise_if_fatal(self) -> None:
        """Raise the fatal error librdkafka reported, if any."""
        if self.fatal is not None:
            raise DwhError(f"{SETTING}: Kafka client failed fatally ({self.fatal})")


def require_bootstrap(bootstrap_servers: str) -> str:
    """The bootstrap servers, or a :class:`ConfigError`-style one-liner when unset."""
    if not bootstrap_servers.strip():
        raise DwhError(
            f"{SETTING} is not set: point it at the platform's Kafka (host:port); "
            "`dwh demo` runs an embedded broker by itself"
        )
    return bootstrap_servers.strip()


def consumer_config(
    *,
    bootstrap_servers: str,
    group_id: str,
    session_timeout_ms: int,
    health: BrokerHealth,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Configuration of the events consumer: manual commits after the data is written."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        # Offsets are committed by the loop, only after ODS and DDS hold the batch.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # A new group reads the topics from the beginning: history is the point.
        "auto.offset.reset": "earliest",
        "session.timeout.ms": session_timeout_ms,
        "heartbeat.interval.ms": max(session_timeout_ms // 3, 100),
        # Pick up topics created after start within seconds, not the default five minutes.
        "topic.metadata.refresh.interval.ms": 10_000,
        "error_cb": health.on_error,
        "logger": _DebugLog(),
    }
    config.update(extra or {})
    return config


def producer_config(
    *, bootstrap_servers: str, health: BrokerHealth, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Configuration for publishing events (the simulator): batched, acknowledged by all."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "acks": "all",
        "linger.ms": 20,
        "batch.num.messages": 10_000,
        "error_cb": health.on_error,
        "logger": _DebugLog(),
    }
    config.update(extra or {})
    return config
