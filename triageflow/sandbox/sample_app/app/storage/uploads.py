"""Stores uploaded documents on the local volume."""

from pathlib import Path

UPLOAD_DIR = Path("/var/lib/booking/uploads")


def save_upload(name: str, data: bytes) -> Path:
    target = UPLOAD_DIR / name
    with open(target, "wb") as fh:
        fh.write(data)
    return target
