"""Helpers for tests that need a system program (Debian's ``prometheus``, ``chromium``, ...).

DESIGN §5: a test that needs a system package installs it when it can (root and apt-get) and
otherwise skips, saying why. ``.ci/run`` installs them up front, so CI never skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest


def require_program(program: str, package: str) -> str:
    """Path of ``program``; installs Debian ``package`` if missing and possible, else skips."""
    found = shutil.which(program)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{program} not installed; `apt-get install {package}` (needs root) to run")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", package]
    result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        # A fresh machine may have no package lists yet.
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, check=False)
        result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    found = shutil.which(program)
    if found is None:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        pytest.skip(f"{program} missing and `apt-get install {package}` failed: {tail[0]}")
    return found


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a process this test session started, killing it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
