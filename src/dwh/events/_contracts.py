"""Message contracts of the platform's topics and the decoding of a batch of records.

The contracts are the JSON Schemas in ``schemas/events/`` (``trigger.json``, ``result.json``),
compiled once with fastjsonschema (plain Python, about ten times faster than an interpreting
validator: validation is most of the per-record cost). :func:`decode_batch` turns consumed
records into two frames: the valid events and the dead letters (raw bytes and the reason),
plus the offsets to commit. It never raises on bad input: every record ends up in one of
the two frames, so rows in = events + dead letters.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import fastjsonschema
import orjson
import polars as pl

CONTRACTS_DIR = Path(__file__).resolve().parents[3] / "schemas" / "events"
EVENT_TYPES = ("trigger", "result")

# uuid5 namespace of event ids: event_id = uuid5(EVENT_ID_NAMESPACE, "topic/partition/offset").
EVENT_ID_NAMESPACE = bytes.fromhex("5f1d4c0e8a7b5d3e9c2f6a1b0d4e7c35")

# Record timestamps outside this window are not event times (a producer's clock at 0, a
# sentinel): they would create absurd monthly partitions and overflow DateTime64 in ClickHouse.
_MIN_TIMESTAMP_MS = 946_684_800_000  # 2000-01-01
_MAX_TIMESTAMP_MS = 7_258_118_400_000  # 2200-01-01
_TIMESTAMP_NOT_AVAILABLE = 0  # confluent_kafka.TIMESTAMP_NOT_AVAILABLE

_UTC_US = pl.Datetime("us", "UTC")
# The hex digit of a uuid's byte 8 high nibble once the RFC 4122 variant bits (10xx) are set.
_VARIANT_NIBBLE = {f"{n:x}": f"{n & 0x3 | 0x8:x}" for n in range(16)}

EVENTS_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "event_type": pl.String(),
    "topic": pl.String(),
    "partition": pl.Int32(),
    "offset": pl.Int64(),
    "event_timestamp": _UTC_US,
    "event_data": pl.String(),
    "pipeline_id": pl.String(),
    "stage_name": pl.String(),
    "stage_id": pl.String(),
    "status": pl.String(),
    "message": pl.String(),
}
DEAD_LETTERS_SCHEMA: dict[str, pl.DataType] = {
    "topic": pl.String(),
    "partition": pl.Int32(),
    "offset": pl.Int64(),
    "raw": pl.Binary(),
    "error": pl.String(),
    "reason": pl.String(),
}


class RecordLike(Protocol):
    """What decoding needs of a consumed record (``confluent_kafka.Message`` has it)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def timestamp(self) -> tuple[int, int]: ...
    def value(self) -> bytes | None: ...


@dataclass(frozen=True)
class RawRecord:
    """A record built in memory (tests, replays); mirrors ``confluent_kafka.Message``."""

    topic_name: str
    partition_id: int
    record_offset: int
    timestamp_ms: int
    payload: bytes | None
    timestamp_type: int = 1  # CreateTime

    def topic(self) -> str:
        """The topic name."""
        return self.topic_name

    def partition(self) -> int:
        """The partition number."""
        return self.partition_id

    def offset(self) -> int:
        """The offset within the partition."""
        return self.record_offset

    def timestamp(self) -> tuple[int, int]:
        """``(timestamp type, milliseconds since the epoch)``."""
        return self.timestamp_type, self.timestamp_ms

    def value(self) -> bytes | None:
        """The payload."""
        return self.payload


@dataclass(frozen=True)
class DecodedBatch:
    """One batch, split: ``events`` (:data:`EVENTS_SCHEMA`) and ``dead_letters``
    (:data:`DEAD_LETTERS_SCHEMA`); ``offsets`` maps (topic, partition) to the next offset to
    commit, covering both."""

    events: pl.DataFrame
    dead_letters: pl.DataFrame
    offsets: Mapping[tuple[str, int], int]

    @property
    def records(self) -> int:
        """Records decoded (events + dead letters)."""
        return self.events.height + self.dead_letters.height

    def reasons(self) -> Counter[str]:
        """Dead letters per reason kind."""
        return Counter(self.dead_letters.get_column("reason").to_list())


@dataclass(frozen=True)
class Contract:
    """The JSON Schema of one event type, compiled."""

    event_type: str
    schema: Mapping[str, Any]
    validate: Callable[[Any], Any]


@cache
def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """The contracts by event type, read from ``<directory>/<event_type>.json``."""
    contracts: dict[str, Contract] = {}
    for event_type in EVENT_TYPES:
        schema = json.loads((directory / f"{event_type}.json").read_text(encoding="utf-8"))
        contracts[event_type] = Contract(event_type, schema, fastjsonschema.compile(schema))
    return contracts


def event_id(topic: str, partition: int, offset: int) -> str:
    """The uuid5 (RFC 4122) of ``topic/partition/offset``: a record's stable identity."""
    digest = bytearray(
        hashlib.sha1(EVENT_ID_NAMESPACE + f"{topic}/{partition}/{offset}".encode()).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    hexed = digest.hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _event_ids(topics: list[str], partitions: list[int], offsets: list[int]) -> pl.Series:
    """:func:`event_id` of every record: per record, Python only finishes a copy of the SHA-1
    state of its ``topic/partition/`` prefix; Polars formats the digests as UUIDs."""
    prefixes: dict[tuple[str, int], Any] = {}
    digests: list[bytes] = []
    append = digests.append
    for topic, partition, offset in zip(topics, partitions, offsets, strict=True):
        prefix = prefixes.get((topic, partition))
        if prefix is None:
            prefix = hashlib.sha1(EVENT_ID_NAMESPACE + f"{topic}/{partition}/".encode())
            prefixes[topic, partition] = prefix
        digest = prefix.copy()
        digest.update(str(offset).encode())
        append(digest.digest())
    hexed = pl.col("digest").bin.encode("hex")
    # RFC 4122: version 5 in the high nibble of byte 6, variant 10xx in the high bits of byte 8.
    return (
        pl.DataFrame({"digest": digests}, schema={"digest": pl.Binary()})
        .select(
            pl.concat_str(
                hexed.str.slice(0, 8),
                pl.lit("-"),
                hexed.str.slice(8, 4),
                pl.lit("-5"),
                hexed.str.slice(13, 3),
                pl.lit("-"),
                hexed.str.slice(16, 1).replace_strict(_VARIANT_NIBBLE, return_dtype=pl.String),
                hexed.str.slice(17, 3),
                pl.lit("-"),
                hexed.str.slice(20, 12),
            ).alias("event_id")
        )
        .to_series()
    )


def decode_batch(
    records: Sequence[RecordLike],
    *,
    topics: Mapping[str, str],
    max_message_bytes: int,
    contracts: Mapping[str, Contract] | None = None,
) -> DecodedBatch:
    """Decode and validate ``records``; ``topics`` maps topic name → event type.

    A record becomes a dead letter (with its reason kind and a one-line error) when it has no
    value, is larger than ``max_message_bytes`` (its first ``max_message_bytes`` bytes are
    kept), has no usable timestamp, is not UTF-8 JSON, holds a NUL character (PostgreSQL
    cannot store one), breaks its topic's contract, or comes from a topic not in ``topics``.
    Ids are lowercased, so ``UUID`` columns and joins see one spelling.
    """
    contracts = load_contracts() if contracts is None else contracts
    validators = {topic: contracts[kind].validate for topic, kind in topics.items()}
    ev_type: list[str] = []
    ev_topic: list[str] = []
    ev_partition: list[int] = []
    ev_offset: list[int] = []
    ev_ts: list[int] = []
    ev_data: list[bytes] = []
    pipeline_id: list[str | None] = []
    stage_name: list[str | None] = []
    stage_id: list[str | None] = []
    status: list[str | None] = []
    message: list[str | None] = []
    dead: dict[str, list[Any]] = {name: [] for name in DEAD_LETTERS_SCHEMA}
    offsets: dict[tuple[str, int], int] = {}

    def reject(
        topic: str, partition: int, offset: int, raw: bytes | None, reason: str, error: str
    ) -> None:
        dead["topic"].append(topic)
        dead["partition"].append(partition)
        dead["offset"].append(offset)
        dead["raw"].append(raw)
        dead["error"].append(_one_line(error))
        dead["reason"].append(reason)

    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    schema_error = fastjsonschema.JsonSchemaException
    for record in records:
        topic = record.topic() or ""
        partition = record.partition() or 0
        offset = record.offset() or 0
        key = (topic, partition)
        if offsets.get(key, -1) <= offset:
            offsets[key] = offset + 1
        raw = record.value()
        kind = topics.get(topic)
        if kind is None:
            reject(topic, partition, offset, raw, "unknown_topic", f"unexpected topic {topic!r}")
            continue
        if raw is None:
            reject(topic, partition, offset, raw, "no_value", "record has no value")
            continue
        if len(raw) > max_message_bytes:
            reject(
                topic,
                partition,
                offset,
                raw[:max_message_bytes],
                "oversized",
                f"payload of {len(raw)} bytes exceeds DWH_EVENTS_MAX_MESSAGE_BYTES="
                f"{max_message_bytes} (first {max_message_bytes} bytes kept)",
            )
            continue
        ts_type, ts = record.timestamp()
        if ts_type == _TIMESTAMP_NOT_AVAILABLE or not _MIN_TIMESTAMP_MS <= ts < _MAX_TIMESTAMP_MS:
            reject(
                topic, partition, offset, raw, "bad_timestamp", f"unusable record timestamp {ts}"
            )
            continue
        try:
            data = loads(raw)
        except decode_error as exc:
            reject(topic, partition, offset, raw, "not_json", f"not UTF-8 JSON: {exc}")
            continue
        # Only a payload that spells \u0000 can decode to a NUL; skip the walk otherwise.
        if b"\\u0000" in raw and _has_nul(data):
            reject(
                topic,
                partition,
                offset,
                raw,
                "nul_character",
                "contains \\u0000, which PostgreSQL cannot store",
            )
            continue
        try:
            validators[topic](data)
        except schema_error as exc:
            reject(topic, partition, offset, raw, "contract", f"{kind} contract: {exc}")
            continue
        ev_type.append(kind)
        ev_topic.append(topic)
        ev_partition.append(partition)
        ev_offset.append(offset)
        ev_ts.append(ts)
        ev_data.append(raw)
        if kind == "trigger":
            pipeline_id.append(data["pipeline_id"].lower())
            stage_name.append(data["stage_name"])
            stage_id.append(None)
            status.append(None)
            message.append(None)
        else:
            pipeline_id.append(None)
            stage_name.append(None)
            stage_id.append(data["stage_id"].lower())
            status.append(data["status"])
            message.append(data.get("message"))
    events = pl.DataFrame(
        {
            "event_id": _event_ids(ev_topic, ev_partition, ev_offset),
            "event_type": ev_type,
            "topic": ev_topic,
            "partition": ev_partition,
            "offset": ev_offset,
            "event_timestamp": ev_ts,
            "event_data": pl.Series(ev_data, dtype=pl.Binary()),
            "pipeline_id": pipeline_id,
            "stage_name": stage_name,
            "stage_id": stage_id,
            "status": status,
            "message": message,
        },
        schema={**EVENTS_SCHEMA, "event_timestamp": pl.Int64(), "event_data": pl.Binary()},
    ).with_columns(
        (pl.col("event_timestamp") * 1_000).cast(_UTC_US),
        # orjson has parsed every payload here, so each is valid UTF-8.
        pl.col("event_data").cast(pl.String),
    )
    return DecodedBatch(events, pl.DataFrame(dead, schema=DEAD_LETTERS_SCHEMA), offsets)
