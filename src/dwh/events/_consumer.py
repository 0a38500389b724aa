"""The events consumer loop: consume a batch, write ODS then DDS, then commit its offsets.

At-least-once delivery plus an idempotent sink gives every record exactly once in each layer:
offsets are committed only after both layers hold the batch, so a crash at any point makes
Kafka redeliver what may be missing, and the sinks absorb what is already there.

A stop request (SIGINT/SIGTERM through :func:`stop_on_signals`, or a bounded run's limits)
is honoured between batches: the current batch is written and committed, the aggregates are
refreshed, the consumer leaves its group, and the loop returns.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Any

import polars as pl
import psycopg
from clickhouse_connect.driver.exceptions import OperationalError as ClickHouseOperationalError
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from dwh.config import Settings
from dwh.errors import DwhError, mask_secrets
from dwh.events._contracts import DecodedBatch, decode_batch, load_contracts
from dwh.events._dds_sink import DdsEventSink
from dwh.events._kafka import BrokerHealth, consumer_config, require_bootstrap
from dwh.events._metrics import EventMetrics
from dwh.events._ods_sink import OdsEventSink, OdsWrite

log = logging.getLogger("dwh.events")

Progress = Callable[[str], None]

_TRANSIENT = (DwhError, psycopg.OperationalError, ClickHouseOperationalError, OSError)
_MAX_BACKOFF_SECONDS = 30.0
_PROGRESS_SECONDS = 10.0
_RETENTION_EVERY_SECONDS = 3_600.0


@dataclass(frozen=True)
class _InFlight:
    """A batch handed to the writer thread."""

    batch: DecodedBatch
    future: Future[OdsWrite]
    started: float


def _earliest(batch: DecodedBatch) -> datetime | None:
    """The batch's earliest event time: where the aggregates must be recomputed from."""
    if batch.events.is_empty():
        return None
    earliest = batch.events.get_column("event_timestamp").min()
    return earliest if isinstance(earliest, datetime) else None


class _StopRequestedError(Exception):
    """A stop was requested while a batch waited to be written; it stays uncommitted."""


@dataclass
class ConsumeReport:
    """What one :meth:`EventConsumer.run` did."""

    records: int = 0
    events_inserted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    seconds: float = 0.0
    stopped_by: str = ""

    @property
    def records_per_second(self) -> float:
        """Records consumed per second of the run."""
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        return (
            f"{self.records} records in {self.batches} batches: {self.events_inserted} new "
            f"events, {self.duplicates} already loaded, {self.dead_letters} dead letters "
            f"({self.records_per_second:,.0f} records/s, stopped by {self.stopped_by})"
        )


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT/SIGTERM while in the block (a second SIGINT aborts at once)."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("%s received: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class EventConsumer:
    """Consumes the trigger and result topics into ``ods.events`` and ``dds.fact_events``."""

    def __init__(
        self,
        settings: Settings,
        *,
        ods_dsn: str,
        clickhouse_dsn: str,
        bootstrap_servers: str | None = None,
        metrics: EventMetrics | None = None,
        kafka_options: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        sink_retries: int | None = None,
    ) -> None:
        """``sink_retries``: how often a failing write is retried (``None``: until it works
        or a stop is requested; a bounded run passes a number and lets the caller retry)."""
        self.settings = settings
        self.metrics = metrics or EventMetrics()
        self.bootstrap_servers = require_bootstrap(
            settings.kafka_bootstrap_servers if bootstrap_servers is None else bootstrap_servers
        )
        self.topics = {
            settings.topic_name_triggers: "trigger",
            settings.topic_name_results: "result",
        }
        self._kafka_options = dict(kafka_options or {})
        self._progress = progress or (lambda message: log.info("%s", message))
        self._sink_retries = sink_retries
        self._ods = OdsEventSink(ods_dsn)
        self._dds = DdsEventSink(clickhouse_dsn)
        self._health = BrokerHealth(self.bootstrap_servers, self.metrics)
        self._pending: datetime | None = None
        self._missing_topics: set[str] = set()
        load_contracts()  # fail on a broken contract file before joining the group

    def run(
        self,
        *,
        max_messages: int | None = None,
        max_seconds: float | None = None,
        stop: threading.Event | None = None,
    ) -> ConsumeReport:
        """Consume until ``stop`` is set, ``max_messages`` records are handled or
        ``max_seconds`` have passed (no limit: until stopped).

        Batches are written by one writer thread while the next batch is consumed and
        decoded: batch N+1 is handed over only after batch N is written and its offsets
        committed, so writes and commits stay strictly in order.
        """
        stop = stop or threading.Event()
        report = ConsumeReport()
        started = time.monotonic()
        deadline = None if max_seconds is None else started + max_seconds
        consumer = Consumer(
            consumer_config(
                bootstrap_servers=self.bootstrap_servers,
                group_id=self.settings.kafka_group_id,
                session_timeout_ms=self.settings.kafka_session_timeout_ms,
                health=self._health,
                extra=self._kafka_options,
            )
        )
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dwh-events-writer")
        inflight: _InFlight | None = None
        consumed = 0
        try:
            self._recover_pending()
            self._drop_expired()
            last_refresh = float("-inf")
            last_retention = time.monotonic()
            last_progress = time.monotonic()
            consumer.subscribe(list(self.topics))
            while True:
                now = time.monotonic()
                if stop.is_set():
                    report.stopped_by = "signal"
                elif max_messages is not None and consumed >= max_messages:
                    report.stopped_by = "max_messages"
                elif deadline is not None and now >= deadline:
                    report.stopped_by = "max_seconds"
                if report.stopped_by:
                    break
                wanted = self.settings.events_batch_size
                if max_messages is not None:
                    wanted = min(wanted, max_messages - consumed)
                wait = self.settings.events_batch_seconds
                if deadline is not None:
                    wait = max(min(wait, deadline - now), 0.01)
                messages = consumer.consume(num_messages=wanted, timeout=wait)
                # A full batch means more records are most likely waiting: a backlog.
                backlog = len(messages) >= wanted
                self._health.raise_if_fatal()
                records = self._records(messages)
                batch = None
                if records:
                    self._health.reachable()
                    batch = self._decode(records)
                    consumed += batch.records
                if inflight is not None:
                    self._finish(consumer, inflight, report)
                    inflight = None
                now = time.monotonic()
                if (
                    self._pending is not None
                    and now - last_refresh >= self.settings.events_refresh_seconds
                ):
                    self._refresh(keep_open=batch is not None)
                    last_refresh = time.monotonic()
                if batch is not None:
                    inflight = _InFlight(
                        batch,
                        writer.submit(self._write, batch, _earliest(batch), stop, backlog),
                        time.monotonic(),
                    )
                else:
                    # Caught up and nothing in flight: let other processes have the warehouse.
                    self._dds.close()
                if now - last_retention >= _RETENTION_EVERY_SECONDS:
                    self._drop_expired()
                    last_retention = now
                if now - last_progress >= _PROGRESS_SECONDS:
                    self._progress(f"events so far: {report}")
                    last_progress = now
            if inflight is not None:
                self._finish(consumer, inflight, report)
                inflight = None
            if self._pending is not None:
                self._refresh()
        except _StopRequestedError:
            report.stopped_by = "signal (last batch left uncommitted)"
        finally:
            writer.shutdown(wait=True, cancel_futures=True)
            consumer.close()
            self._ods.close()
            self._dds.close()
            report.seconds = time.monotonic() - started
        return report

    def _decode(self, records: list[Message]) -> DecodedBatch:
        return decode_batch(
            records, topics=self.topics, max_message_bytes=self.settings.events_max_message_bytes
        )

    def _finish(self, consumer: Consumer, inflight: _InFlight, report: ConsumeReport) -> None:
        """Wait for a batch's write, then commit its offsets and count it."""
        batch = inflight.batch
        written = inflight.future.result()
        since = _earliest(batch)
        if since is not None and (self._pending is None or since < self._pending):
            self._pending = since
        self._commit(consumer, batch.offsets)
        dead = batch.dead_letters.height + len(written.refused_ids)
        report.records += batch.records
        report.batches += 1
        report.events_inserted += written.inserted
        report.duplicates += written.duplicates
        report.dead_letters += dead
        reasons = batch.reasons()
        if written.refused_ids:
            reasons["refused_by_postgres"] += len(written.refused_ids)
        self.metrics.add(
            records_consumed=batch.records,
            events_inserted=written.inserted,
            events_duplicate=written.duplicates,
            batches=1,
        )
        self.metrics.dead_lettered(reasons)
        self.metrics.set(
            last_batch_records=batch.records,
            last_batch_seconds=time.monotonic() - inflight.started,
        )

    def _records(self, messages: list[Message]) -> list[Message]:
        records: list[Message] = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(message)
            elif error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                topic = message.topic() or "?"
                if topic not in self._missing_topics:
                    self._missing_topics.add(topic)
                    log.warning("Kafka topic %r does not exist yet; waiting for it", topic)
            elif error.code() != KafkaError._PARTITION_EOF:
                self._health.on_error(error)
        return records

    def _write(
        self, batch: DecodedBatch, since: datetime | None, stop: threading.Event, backlog: bool
    ) -> OdsWrite:
        """ODS, then DDS; transient failures are retried with backoff, the batch kept.
        ``backlog``: another batch follows at once, so the DDS may stay open for it."""
        attempt = 0
        while True:
            try:
                written = self._ods.write(batch.events, batch.dead_letters, pending_since=since)
                events = batch.events
                if written.refused_ids:
                    refused = pl.Series(sorted(written.refused_ids), dtype=pl.String)
                    events = events.filter(~pl.col("event_id").is_in(refused.implode()))
                self._dds.write(events, keep_open=backlog)
                return written
            except _TRANSIENT as exc:
                attempt += 1
                self.metrics.add(sink_retries=1)
                if self._sink_retries is not None and attempt > self._sink_retries:
                    raise
                delay = min(2.0 ** (attempt - 1), _MAX_BACKOFF_SECONDS)
                log.warning(
                    "writing an events batch failed (%s); retrying in %.0f s",
                    _one_line(exc),
                    delay,
                )
                if stop.wait(delay):
                    raise _StopRequestedError from None

    def _commit(self, consumer: Consumer, offsets: Mapping[tuple[str, int], int]) -> None:
        partitions = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
        try:
            consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as exc:
            # The data is written; the records come again (to this or another member after a
            # rebalance) and the idempotent sinks absorb them.
            self.metrics.add(commit_failures=1)
            log.warning("committing offsets failed (%s); they will be redelivered", _one_line(exc))
            return
        self.metrics.add(offsets_committed=len(partitions))
        self.metrics.set(last_commit_unixtime=time.time())

    def _recover_pending(self) -> None:
        """Adopt a refresh that a previous run committed data for but did not finish."""
        try:
            self._pending = self._ods.pending_since()
        except _TRANSIENT as exc:
            log.warning("could not read the events state (%s)", _one_line(exc))

    def _refresh(self, *, keep_open: bool = False) -> None:
        """Recompute the event aggregates from the earliest pending event time (``keep_open``:
        a batch is about to be written, see :meth:`DdsEventSink.session`)."""
        try:
            marker = self._ods.pending_since()
            candidates = [t for t in (marker, self._pending) if t is not None]
            if candidates:
                self._dds.refresh(min(candidates), keep_open=keep_open)
                self._ods.clear_pending(marker)
            self._pending = None
            self.metrics.add(refreshes=1)
        except _TRANSIENT as exc:
            # The marker stays in ods.load_state: the next refresh (or run) covers it.
            log.warning("refreshing the event aggregates failed (%s)", _one_line(exc))

    def _drop_expired(self) -> None:
        try:
            dropped = self._ods.drop_expired_partitions(self.settings.events_retention_months)
        except _TRANSIENT as exc:
            log.warning("dropping expired ods.events partitions failed (%s)", _one_line(exc))
            return
        if dropped:
            self.metrics.add(partitions_dropped=len(dropped))
            self._progress(f"dropped expired ods.events partitions: {', '.join(dropped)}")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return mask_secrets(text[:300])
