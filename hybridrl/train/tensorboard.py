"""TensorBoard scalar event files, written without TensorFlow or any extra package.

An event file is a sequence of TFRecords: a little-endian uint64 length, the
masked CRC-32C of those 8 bytes, the payload, the masked CRC-32C of the payload.
Each payload is an ``Event`` protocol buffer; ours hold either the file version
or a ``Summary`` with ``simple_value`` scalars, encoded by hand below (field
numbers from tensorflow/core/util/event.proto and framework/summary.proto).
Every write opens, appends and closes the file, so a killed run leaves whole
records; each process (a new run or a resume) writes its own file, as
TensorBoard expects.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord uses."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> bytes:
    crc = crc32c(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, body: bytes) -> bytes:
    return b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step) + body


def scalar_event(step: int, scalars: dict[str, float], wall_time: float | None = None) -> bytes:
    """An Event holding one Summary with a simple_value per tag."""
    values = b"".join(
        _length_delimited(1, _length_delimited(1, tag.encode()) + b"\x15" + struct.pack("<f", float(value)))
        for tag, value in scalars.items()
    )
    return _event(time.time() if wall_time is None else wall_time, step, _length_delimited(5, values))


def record(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return header + _masked_crc(header) + payload + _masked_crc(payload)


class EventWriter:
    """Appends scalar summaries to one new event file in ``directory``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        now = time.time()
        self.path = self.directory / f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}"
        version = _event(now, 0, _length_delimited(3, b"brain.Event:2"))
        self._append(record(version))

    def scalars(self, step: int, scalars: dict[str, float | None]) -> None:
        finite = {k: v for k, v in scalars.items() if v is not None and v == v}  # drop None and NaN
        if finite:
            self._append(record(scalar_event(step, finite)))

    def _append(self, data: bytes) -> None:
        with open(self.path, "ab") as f:
            f.write(data)

    def records(self, step: int, records: list[dict], group: str) -> None:
        """Per-seed records (as in metrics.jsonl / eval.jsonl) as scalars tagged ``group/name/seed_S``."""
        self.scalars(step, record_scalars(records, group))


def record_scalars(records: list[dict], group: str) -> dict[str, float]:
    """The numbers in per-seed records, tagged ``group/name/seed_S`` (lists, None and flags are left out)."""
    scalars = {}
    for r in records:
        for key, value in r.items():
            if key not in ("step", "seed") and isinstance(value, (int, float)) and not isinstance(value, bool):
                scalars[f"{group}/{key}/seed_{r['seed']}"] = value
    return scalars
