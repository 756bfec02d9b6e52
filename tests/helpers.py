"""Small builders shared by tests (plain module, imported by test files)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from PIL import Image

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def jpeg_bytes(width: int = 64, height: int = 48, color=(120, 30, 200), quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(width: int = 64, height: int = 48, color=(10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


@contextlib.contextmanager
def no_fsync():
    """fsync only adds durability across power loss, which no test checks; on a busy shared
    disk it can cost half a second per call. Atomic temp-file + rename writes still happen."""
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", lambda fd: None)
        yield
