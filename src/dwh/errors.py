"""Errors a person can act on: each carries a one-line message naming what to fix."""

from __future__ import annotations

import re

_PASSWORD_IN_URL = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@", re.I
)
_PASSWORD_KV = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.I)


def mask_secrets(text: str) -> str:
    """Replace passwords in DSNs and ``password=...`` pairs with ``***``."""
    text = _PASSWORD_IN_URL.sub(
        lambda m: f"{m['scheme']}{m['user']}:***@" if m["pw"] else m[0], text
    )
    return _PASSWORD_KV.sub(r"\1***", text)


class DwhError(Exception):
    """An expected failure: the CLI prints its message on one line, without a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(mask_secrets(message))


class ConfigError(DwhError):
    """A setting is wrong or points at something unreachable."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"{setting}: {problem}")
