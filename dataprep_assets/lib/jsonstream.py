"""Reading a large JSON object (a COCO file) without holding it: the items of its top-level arrays one at a time.

A COCO file is one object whose `images` and `annotations` arrays grow with the dataset; everything else
(`info`, `categories`) is small. `array_items(path, key)` yields the items of the array at a top-level key,
each decoded when its turn comes from a bounded buffer (`CHUNK` characters plus one item); `small_members(path,
skip)` returns every other top-level member, passing over the skipped arrays item by item. Any valid JSON
object is read the same as `json.load` reads it (standard decoder, same values); memory does not grow with
the arrays' lengths. A file that is not a JSON object, or is cut short, raises `json.JSONDecodeError`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Iterator

CHUNK = 1 << 20
"""Characters read from the file at a time."""
_NOT_SPACE = re.compile(r"[^ \t\n\r]")
_DECODER = json.JSONDecoder()


class _Scanner:
    """A window on a text file: the decoder sees `buf[pos:]`, refilled from the file as it is consumed."""

    def __init__(self, fh, path: str):
        self.fh, self.path = fh, path
        self.buf, self.pos, self.eof = "", 0, False

    def _more(self) -> bool:
        if self.eof:
            return False
        text = self.fh.read(max(CHUNK, len(self.buf) - self.pos))  # doubles the window for an item longer than it
        if not text:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + text  # drop what is consumed: the window stays one chunk plus an item
        self.pos = 0
        return True

    def _maybe_cut(self, value: object, end: int) -> bool:
        return not self.eof and _cut(self.buf, value, end)

    def _error(self, what: str) -> json.JSONDecodeError:
        return json.JSONDecodeError(f"{self.path}: {what}", self.buf, self.pos)

    def peek(self) -> str:
        """The next non-space character ('' at the end of the file), not consumed."""
        while True:
            found = _NOT_SPACE.search(self.buf, self.pos)
            if found is not None:
                self.pos = found.start()
                return self.buf[self.pos]
            self.pos = len(self.buf)
            if not self._more():
                return ""

    def expect(self, chars: str) -> str:
        char = self.peek()
        if not char or char not in chars:
            raise self._error(f"expected one of {chars!r}, found {char or 'the end of the file'!r}")
        self.pos += 1
        return char

    def value(self) -> object:
        """The next JSON value, decoded by the standard decoder once the buffer holds all of it."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if self._more():  # cut off at the buffer's end: read on
                    continue
                raise
            if self._maybe_cut(value, end) and self._more():  # a number may continue in the next chunk
                continue
            self.pos = end
            return value


_NUMBER_CHARS = frozenset("0123456789.eE+-")


def _cut(buf: str, value: object, end: int) -> bool:
    """Could the value just decoded be the start of a longer one (the buffer ends in it, or a number stops at a
    character that continues a number: `1.` of `1.5`)?"""
    if end == len(buf):
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and buf[end] in _NUMBER_CHARS


def _members(scanner: _Scanner, arrays: Collection[str] | None) -> Iterator[tuple[str, object]]:
    """(key, value) of each top-level member in file order; the value of a key in `arrays` (of any key: None) that
    holds an array is an iterator over its items, to be consumed before the next member (what is left of it is
    passed over item by item)."""
    scanner.expect("{")
    if scanner.peek() == "}":
        scanner.pos += 1
        return
    while True:
        key = scanner.value()
        if not isinstance(key, str):
            raise scanner._error("an object key must be a string")
        scanner.expect(":")
        if (arrays is None or key in arrays) and scanner.peek() == "[":
            items = _items(scanner)
            yield key, items
            for _ in items:  # the consumer stopped early, or skips this array: pass over the rest
                pass
        else:
            yield key, scanner.value()
        if scanner.expect(",}") == "}":
            return


def _items(scanner: _Scanner) -> Iterator[object]:
    scanner.expect("[")
    if scanner.peek() == "]":
        scanner.pos += 1
        return
    while True:
        yield scanner.value()
        if scanner.expect(",]") == "]":
            return


def array_items(path: str | os.PathLike, key: str) -> Iterator[object]:
    """The items of the array at top-level `key` of the JSON object in `path`, one at a time (none if the key is
    absent); raises `TypeError` when the key holds something else than an array."""
    with open(path, encoding="utf-8-sig") as fh:  # a UTF-8 BOM is accepted, as `lib.coco.load_coco` does
        for name, value in _members(_Scanner(fh, str(path)), None):  # other arrays passed over item by item
            if name == key:
                if not isinstance(value, Iterator):
                    raise TypeError(f"{path}: {key!r} is not an array")
                yield from value
                return


def small_members(path: str | os.PathLike, skip: Collection[str], arrays: set[str] | None = None) -> dict:
    """Every top-level member of the JSON object in `path` but the arrays at `skip`, which are passed over item by
    item (a key in `skip` that holds something else than an array is returned too); `arrays`, if given, receives
    the keys of the arrays passed over."""
    with open(path, encoding="utf-8-sig") as fh:
        small = {}
        for key, value in _members(_Scanner(fh, str(path)), skip):
            if isinstance(value, Iterator):
                if arrays is not None:
                    arrays.add(key)
            else:
                small[key] = value
        return small
