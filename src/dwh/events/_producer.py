"""Publishing events to Kafka (the simulator's ``--kafka`` and the embedded demo).

Records carry no key and no headers, as the platform's do; the record timestamp is the event
time given by the caller (``CreateTime``), so the consumer reads back the simulated times.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl
from confluent_kafka import KafkaError, Message, Producer

from dwh.errors import DwhError
from dwh.events._kafka import BrokerHealth, producer_config
from dwh.events._metrics import EventMetrics

log = logging.getLogger("dwh.events")

#: Columns of a frame of records to publish.
RECORD_COLUMNS = ("topic", "value", "timestamp")


def publish(
    bootstrap_servers: str,
    records: pl.DataFrame,
    *,
    partition: int | None = None,
    flush_timeout: float = 120.0,
) -> int:
    """Publish ``records`` (``topic`` str, ``value`` str or bytes, ``timestamp`` UTC datetime)
    in frame order; returns how many the brokers acknowledged.

    ``partition`` pins every record to one partition (deterministic offsets); by default the
    producer spreads them. Raises :class:`DwhError` if a record could not be delivered.
    """
    health = BrokerHealth(bootstrap_servers, EventMetrics())
    producer = Producer(producer_config(bootstrap_servers=bootstrap_servers, health=health))
    failures: list[str] = []
    delivered = 0

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        nonlocal delivered
        if error is None:
            delivered += 1
        elif len(failures) < 3:
            failures.append(str(error.str()))

    millis = records.get_column("timestamp").dt.epoch("ms").to_list()
    values = records.get_column("value")
    payloads: list[Any] = (
        values.cast(pl.Binary).to_list() if values.dtype == pl.String else values.to_list()
    )
    # -1: no partition chosen, the producer's partitioner picks one.
    target = -1 if partition is None else partition
    produce = producer.produce
    for topic, value, timestamp in zip(
        records.get_column("topic").to_list(), payloads, millis, strict=True
    ):
        while True:
            try:
                produce(
                    topic, value, partition=target, timestamp=timestamp, on_delivery=on_delivery
                )
                break
            except BufferError:
                producer.poll(0.1)  # the local queue is full: let deliveries drain
    remaining = producer.flush(flush_timeout)
    if remaining or failures:
        raise DwhError(
            f"publishing to Kafka at {bootstrap_servers} failed for "
            f"{records.height - delivered} of {records.height} records"
            + (f" ({failures[0]})" if failures else "")
        )
    return delivered
