"""The vocabulary: the characters a model knows, their ids, and how a message names characters."""

from __future__ import annotations

import unicodedata

import numpy as np

from charnn.errors import CharnnError


class Vocab:
    """The characters a model knows, in a fixed order (id = index in `chars`)."""

    def __init__(self, chars: str):
        if len(set(chars)) != len(chars):
            raise CharnnError("vocabulary has repeated characters")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}
        # Sorted code points → ids, for vectorised encoding with np.searchsorted.
        points = np.array([ord(c) for c in chars], dtype=np.int64)
        self._order = np.argsort(points)
        self._sorted_points = points[self._order]

    def __repr__(self) -> str:  # a student's print(vocab) showed `<charnn.vocab.Vocab object at 0x…>`
        return f"Vocab({len(self.chars)} characters: {self.chars[:40]!r}{'…' if len(self.chars) > 40 else ''})"

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of `text` this vocabulary lacks, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.index))

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        """Ids for `text`. `unknown`: 'error' raises, 'skip' drops, 'replace' uses a space/newline."""
        missing = self.unknown(text)
        if missing:
            if unknown == "error":
                raise CharnnError(
                    f"the prime has characters the model never saw: {listed(missing)} "
                    "— remove them or use --unknown skip|replace"
                )
            if unknown == "skip":
                text = "".join(c for c in text if c in self.index)
            elif unknown == "replace":
                fill = stand_in(self)
                text = "".join(c if c in self.index else fill for c in text)
            else:
                raise CharnnError(f"unknown-character policy must be error, skip or replace, not {unknown!r}")
        return self._encode_known(text)

    def _encode_known(self, text: str, checked: bool = False) -> np.ndarray:
        """Ids for `text`, whose characters are all in this vocabulary; `checked`: raise ValueError where one is not
        (else it becomes another character, silently)."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        positions = np.searchsorted(self._sorted_points, points)
        if checked and len(points) and (positions.max() >= len(self.chars)
                                        or not np.array_equal(self._sorted_points[positions], points)):
            raise ValueError("characters outside the vocabulary")
        return self._order[positions]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    @property
    def dtype(self) -> np.dtype:
        """Narrowest unsigned integer type that holds every id."""
        n = len(self.chars)
        return np.dtype(np.uint8 if n <= 256 else np.uint16 if n <= 65536 else np.uint32)


def listed(chars: list[str], limit: int = 10) -> str:
    """Characters for a message, as Python writes them; a mark, control or space character that would not show
    (a lone combining accent, a zero-width joiner) by its code point and name."""
    def one(char: str) -> str:
        name = unicodedata.name(char, "")
        if unicodedata.category(char)[0] in "MCZ" and char != " " and name:
            return f"U+{ord(char):04X} {name}"
        if char == "\\":  # repr writes it doubled, '\\', which a trial read as two typed
            return "'\\'"
        return repr(char)  # controls have no name: Python's escape (\r, \x1b) says it

    shown = ", ".join(one(char) for char in chars[:limit])
    return shown + (f", … ({len(chars)} in all)" if len(chars) > limit else "")


def typed_breaks(text: str, vocab: Vocab) -> str:
    """A prime as typed (`--prime`, an `--interactive` line): `\\n` and `\\t` → a line break and a tab, for a model
    that never saw a backslash, where they can mean nothing else (a trial's `--prime 'JONAH\\n'` was refused for its
    backslash, and then its `[Chorus]\\n` at the interactive prompt)."""
    return text if "\\" in vocab.index else text.replace("\\n", "\n").replace("\\t", "\t")


def stand_in(vocab: Vocab) -> str:
    """What `--unknown replace` puts for a character the model never saw: a space, else a line break, else any."""
    return next((c for c in " \n" if c in vocab.index), vocab.chars[0])


def unseen_note(vocab: Vocab, prime: str, unknown: str) -> str | None:
    """What `unknown` ('skip' or 'replace') did to `prime`, for a line after the option's name; None where the prime
    has no characters the model never saw."""
    missing = vocab.unknown(prime)
    if not missing:
        return None
    done = "dropped" if unknown == "skip" else f"put {stand_in(vocab)!r} for"
    left = "" if unknown != "skip" or any(char in vocab.index for char in prime) else (
        "; nothing of the prime is left, so the sample starts as one without a prime")
    return f"{done} the prime's characters the model never saw: {listed(missing)}{left}"
