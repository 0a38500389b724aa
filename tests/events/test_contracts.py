"""Decoding and validation of records against the contracts in schemas/events/ (no engines)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import jsonschema
import pytest

from dwh.events import CONTRACTS_DIR, RawRecord, decode_batch, event_id
from dwh.events._contracts import EVENT_ID_NAMESPACE

TOPICS = {"trigger-channel": "trigger", "result-channel": "result"}
TS = 1_790_000_000_000  # 2026-09-21, milliseconds
PIPELINE = "0b6f1f3e-8a0c-4d52-9a57-3f1d2c4b5a69"
STAGE = "5d0a7e64-2f1b-4c3a-8e9d-6b7c8a9d0e1f"


def _decode(*records: RawRecord, max_bytes: int = 1_000) -> object:
    return decode_batch(list(records), topics=TOPICS, max_message_bytes=max_bytes)


def trigger(offset: int, payload: bytes | None, *, partition: int = 0, ts: int = TS) -> RawRecord:
    return RawRecord("trigger-channel", partition, offset, ts, payload)


def result(offset: int, payload: bytes | None) -> RawRecord:
    return RawRecord("result-channel", 0, offset, TS, payload)


@pytest.mark.parametrize("name", ["trigger", "result"])
def test_contract_files_are_valid_draft7(name: str) -> None:
    schema = json.loads((CONTRACTS_DIR / f"{name}.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)


def test_event_id_is_rfc_uuid5_of_topic_partition_offset() -> None:
    namespace = uuid.UUID(bytes=EVENT_ID_NAMESPACE)
    expected = uuid.uuid5(namespace, "trigger-channel/3/42")
    assert event_id("trigger-channel", 3, 42) == str(expected)
    assert event_id("trigger-channel", 3, 43) != str(expected)


def test_valid_records_become_events_with_columns() -> None:
    batch = decode_batch(
        [
            trigger(
                7,
                json.dumps(
                    {"pipeline_id": PIPELINE.upper(), "stage_name": "estimate_cost"}
                ).encode(),
            ),
            result(
                3, json.dumps({"stage_id": STAGE, "status": "failed", "message": "no"}).encode()
            ),
            result(4, json.dumps({"stage_id": STAGE, "status": "succeeded"}).encode()),
        ],
        topics=TOPICS,
        max_message_bytes=1_000,
    )
    assert batch.dead_letters.height == 0
    rows = batch.events.to_dicts()
    assert [r["event_type"] for r in rows] == ["trigger", "result", "result"]
    first = rows[0]
    assert first["pipeline_id"] == PIPELINE  # lowercased for the UUID columns
    assert first["stage_name"] == "estimate_cost"
    assert first["stage_id"] is None
    assert first["status"] is None
    assert first["event_id"] == event_id("trigger-channel", 0, 7)
    assert first["event_timestamp"] == datetime.fromtimestamp(TS / 1000, UTC)
    assert json.loads(first["event_data"])["pipeline_id"] == PIPELINE.upper()  # ODS: as received
    assert rows[1]["message"] == "no"
    assert rows[1]["status"] == "failed"
    assert rows[2]["message"] is None
    assert batch.offsets == {("trigger-channel", 0): 8, ("result-channel", 0): 5}


BAD = [
    ("not_json", b"{not json"),
    ("not_json", b"\xff\xfe binary"),
    ("not_json", b'{"pipeline_id": NaN}'),
    ("contract", b"[1, 2]"),
    ("contract", json.dumps({"pipeline_id": PIPELINE}).encode()),
    ("contract", json.dumps({"pipeline_id": PIPELINE, "stage_name": "teleport"}).encode()),
    ("contract", json.dumps({"pipeline_id": "not-a-uuid", "stage_name": "estimate_cost"}).encode()),
    ("contract", json.dumps({"pipeline_id": 12, "stage_name": "estimate_cost"}).encode()),
    (
        "nul_character",
        json.dumps({"pipeline_id": PIPELINE, "stage_name": "estimate_cost", "x": "a\x00"}).encode(),
    ),
    ("oversized", b'{"pipeline_id": "' + PIPELINE.encode() + b'", "pad": "' + b"x" * 2_000 + b'"}'),
    ("no_value", None),
]


@pytest.mark.parametrize(("reason", "payload"), BAD)
def test_bad_trigger_is_a_dead_letter_with_a_reason(reason: str, payload: bytes | None) -> None:
    batch = decode_batch([trigger(5, payload)], topics=TOPICS, max_message_bytes=1_000)
    assert batch.events.height == 0
    dead = batch.dead_letters.to_dicts()
    assert len(dead) == 1
    assert dead[0]["reason"] == reason
    assert dead[0]["offset"] == 5
    assert dead[0]["topic"] == "trigger-channel"
    assert "\n" not in dead[0]["error"]
    assert dead[0]["error"]
    if payload is not None:
        assert dead[0]["raw"] == payload[:1_000]
    assert batch.offsets == {("trigger-channel", 0): 6}  # dead letters are committed too


@pytest.mark.parametrize(
    "payload",
    [
        {"stage_id": STAGE, "status": "in_progress", "message": None},
        {"stage_id": STAGE, "status": "succeeded", "message": 5},
        {"stage_id": STAGE[:-1], "status": "succeeded"},
        {"status": "failed"},
    ],
)
def test_bad_result_is_a_dead_letter(payload: dict[str, object]) -> None:
    batch = decode_batch(
        [result(1, json.dumps(payload).encode())], topics=TOPICS, max_message_bytes=1_000
    )
    assert batch.events.height == 0
    assert batch.dead_letters.get_column("error").item().startswith("result contract: ")


def test_unusable_timestamp_and_unknown_topic_are_dead_letters() -> None:
    good = json.dumps({"pipeline_id": PIPELINE, "stage_name": "estimate_cost"}).encode()
    batch = decode_batch(
        [
            trigger(1, good, ts=0),
            RawRecord("trigger-channel", 0, 2, TS, good, timestamp_type=0),
            RawRecord("elsewhere", 0, 3, TS, good),
        ],
        topics=TOPICS,
        max_message_bytes=1_000,
    )
    assert batch.dead_letters.get_column("reason").to_list() == [
        "bad_timestamp",
        "bad_timestamp",
        "unknown_topic",
    ]


def test_a_repeated_poison_message_never_hides_the_good_ones() -> None:
    good = json.dumps({"pipeline_id": PIPELINE, "stage_name": "estimate_cost"}).encode()
    records = [trigger(i, b"poison" if i % 3 else good, partition=i % 2) for i in range(300)]
    batch = decode_batch(records, topics=TOPICS, max_message_bytes=1_000)
    # Rows in = events + dead letters; the offsets cover everything, so the stream moves on.
    assert batch.events.height == 100
    assert batch.dead_letters.height == 200
    assert batch.reasons() == {"not_json": 200}
    assert batch.offsets == {("trigger-channel", 0): 299, ("trigger-channel", 1): 300}
    assert batch.events.get_column("event_id").n_unique() == 100


def test_batch_event_ids_equal_event_id_for_every_record() -> None:
    good = json.dumps({"pipeline_id": PIPELINE, "stage_name": "estimate_cost"}).encode()
    offsets = [0, 1, 9, 10, 99, 12_345, 2**31, 2**62]
    records = [
        RawRecord(topic, partition, offset, TS, good)
        for topic in ("trigger-channel", "trigger-channel-2")
        for partition in (0, 1, 17)
        for offset in offsets
    ]
    batch = decode_batch(
        records,
        topics={"trigger-channel": "trigger", "trigger-channel-2": "trigger"},
        max_message_bytes=1_000,
    )
    expected = [event_id(r.topic(), r.partition(), r.offset()) for r in records]
    assert batch.events.get_column("event_id").to_list() == expected
    namespace = uuid.UUID(bytes=EVENT_ID_NAMESPACE)
    assert expected[-1] == str(uuid.uuid5(namespace, f"trigger-channel-2/17/{2**62}"))
