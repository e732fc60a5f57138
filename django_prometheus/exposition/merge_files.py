"""The multiprocess files as a fast scrape reads them: each file's keys parsed once.

prometheus_client's ``MmapedDict`` file is a used-size word, four bytes of padding,
then entries of (key length, UTF-8 JSON key padded to 8 bytes, value, timestamp). A
process only ever appends entries and rewrites values in place, so the keys read at one
scrape stay where they are. A :class:`FileLayout` keeps them, and a ``struct`` that
unpacks every value of the file in one call. Before a layout is reused, every key is
compared with the bytes at its place (a new file under a reused pid's name has other
keys at other places), and entries appended since are parsed and added.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from array import array
from collections.abc import Sequence
from typing import Final, NamedTuple

__all__ = ["Entry", "FileLayout", "KeyCache", "Unsupported", "read_file", "read_used"]

_INT: Final = struct.Struct("=i")
_ENTRY_VALUES: Final = 16  # value and timestamp, two doubles


class Unsupported(Exception):  # noqa: N818 (not an error: a reason to fall back)
    """Something the fast scrape does not reproduce; prometheus_client renders instead."""


class Entry(NamedTuple):
    """One parsed key: what ``MultiProcessCollector._read_metrics`` takes from it."""

    metric_name: str
    name: str
    labels: tuple[tuple[str, str], ...]  # sorted by label name, as the collector sorts them
    help_text: str


# A key as written (length word and key bytes) and what it says; shared by the files
# of every process, which mostly hold the same keys.
_Key = tuple[bytes, Entry]


class KeyCache:
    """Keys parsed once for all files; pruned to what the current layouts use."""

    __slots__ = ("keys", "pairs", "strings")

    def __init__(self) -> None:
        self.keys: dict[bytes, _Key] = {}
        # One copy of each name, help text and label pair that many keys repeat.
        self.strings: dict[str, str] = {}
        self.pairs: dict[tuple[str, str], tuple[str, str]] = {}

    def parse(self, mark: bytes) -> _Key:
        known = self.keys.get(mark)
        if known is None:
            known = self.keys[mark] = (mark, self._parse(mark[4:]))
        return known

    def _parse(self, encoded: bytes) -> Entry:
        try:
            metric_name, name, labels, help_text = json.loads(encoded.decode("utf-8"))
        except (ValueError, TypeError) as error:
            raise Unsupported("unreadable key") from error
        if not (
            isinstance(metric_name, str)
            and isinstance(name, str)
            and isinstance(help_text, str)
            and isinstance(labels, dict)
            and all(isinstance(value, str) for value in labels.values())
        ):
            raise Unsupported("unexpected key")
        one = self.strings.setdefault
        pair = self.pairs.setdefault
        return Entry(
            one(metric_name, metric_name),
            one(name, name),
            tuple(pair(item, item) for item in sorted(labels.items())),
            one(help_text, help_text),
        )

    def keep_only(self, layouts: Sequence[FileLayout]) -> None:
        """Forget the keys no layout holds (when they are many)."""
        if len(self.keys) > 2 * max(1, max((len(layout.keys) for layout in layouts), default=0)):
            used = {key[0] for layout in layouts for key in layout.keys}
            self.keys = {mark: key for mark, key in self.keys.items() if mark in used}
            self.strings = {}
            self.pairs = {}


class FileLayout:
    """The entries of one file as far as a scrape walked it, and one ``struct`` that
    unpacks every key (with its length word) and value of them from the file's bytes."""

    __slots__ = ("_unpack", "end", "keys", "last_position", "marks", "positions", "timestamps")

    def __init__(self, keys: list[_Key], positions: array[int], end: int, timestamps: bool) -> None:
        self.keys = keys
        self.marks = tuple(key[0] for key in keys)
        self.positions = positions  # where each entry starts
        self.last_position = positions[-1] if positions else -1
        self.end = end  # where the walk stopped: the next entry starts here
        self.timestamps = timestamps
        self._unpack = _entries_struct(self.marks, positions, timestamps).unpack_from

    def read(self, data: bytes) -> tuple[Sequence[float], Sequence[float]] | None:
        """The values (and timestamps when ``timestamps``) of ``data``, if it holds this
        layout's keys at their places; None if it does not."""
        try:
            unpacked = self._unpack(data)
        except struct.error:
            return None
        step = 3 if self.timestamps else 2
        if unpacked[0::step] != self.marks:
            return None
        return unpacked[1::step], unpacked[2::3] if self.timestamps else ()

    def extended(self, data: bytes, used: int, cache: KeyCache) -> FileLayout:
        """This layout with the entries walked from ``end`` to ``used`` added."""
        return _walk(
            data,
            list(self.keys),
            array("q", self.positions),
            self.end,
            used,
            cache,
            self.timestamps,
        )


def _entries_struct(
    marks: Sequence[bytes], positions: array[int], timestamps: bool
) -> struct.Struct:
    # prometheus_client unpacks both doubles of every entry, so the format covers them.
    read = "dd" if timestamps else "d8x"
    parts = ["="]
    cursor = 0
    for mark, position in zip(marks, positions, strict=True):
        # The key is padded to 8 bytes with its length word: 1 to 8 bytes of padding.
        padding = 8 - len(mark) % 8
        if position > cursor:
            parts.append(f"{position - cursor}x")
        parts.append(f"{len(mark)}s{padding}x{read}")
        cursor = position + len(mark) + padding + _ENTRY_VALUES
    return struct.Struct("".join(parts))


def _walk(
    data: bytes,
    keys: list[_Key],
    positions: array[int],
    position: int,
    used: int,
    cache: KeyCache,
    timestamps: bool,
) -> FileLayout:
    """Walk the entries from ``position`` while an entry starts before ``used``, as
    ``mmap_dict._read_all_values`` walks them."""
    while position < used:
        (length,) = _INT.unpack_from(data, position)
        if length < 0 or length + position > used:
            raise Unsupported("corrupted file")
        padded = length + (8 - (length + 4) % 8)
        keys.append(cache.parse(data[position : position + 4 + length]))
        positions.append(position)
        position += 4 + padded + _ENTRY_VALUES
    if len(data) < position:
        raise Unsupported("truncated entry")
    return FileLayout(keys, positions, position, timestamps)


def read_file(
    data: bytes, previous: FileLayout | None, cache: KeyCache, timestamps: bool
) -> tuple[FileLayout, Sequence[float], Sequence[float]]:
    """The layout of ``data`` (a file as far as it is used) and its values and
    timestamps, reusing ``previous`` when its keys are still where they were and a walk
    of the file would still reach them all."""
    used = _used_size(data)
    if previous is not None and previous.timestamps == timestamps and previous.last_position < used:
        if previous.end >= used:
            read = previous.read(data)
            if read is not None:
                return previous, *read
        elif previous.read(data) is not None:
            layout = previous.extended(data, used, cache)
            read = layout.read(data)
            if read is not None:
                return layout, *read
    layout = _walk(data, [], array("q"), 8, used, cache, timestamps)
    read = layout.read(data)
    if read is None:
        raise Unsupported("file changed while read")
    return layout, *read


def _used_size(data: bytes) -> int:
    if len(data) < 4:
        raise Unsupported("short file")
    used: int = _INT.unpack_from(data, 0)[0]
    if used > len(data):
        raise Unsupported("truncated file")
    return used


def read_used(path: str) -> bytes:
    """The used part of a file (at least its first page, as prometheus_client reads it)."""
    handle = os.open(path, os.O_RDONLY)
    try:
        head = os.pread(handle, 4, 0)
        used = _INT.unpack(head)[0] if len(head) == 4 else 0
        return os.pread(handle, max(used, mmap.PAGESIZE), 0)
    finally:
        os.close(handle)
