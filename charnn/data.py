"""Corpus → vocabulary → memory-mapped ids (vocab.py holds the vocabulary, batches.py the training batches).

The corpus is read twice in fixed-size chunks: once to collect the vocabulary, once to encode it
into a flat array of ids on disk (`np.memmap`, the narrowest unsigned dtype that fits the vocab).
Training reads windows straight from that map, so memory does not grow with the corpus size.
The encoded array is cached by (path, size, mtime, read options) and reused by later runs (corpus_cache.py).
"""

from __future__ import annotations

import codecs
import errno
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from charnn import corpus_cache, paths, reading
from charnn.errors import CharnnError
from charnn.reading import ReadOptions, iter_text
from charnn.vocab import Vocab, listed

FIRST_READ_SHARE = 0.2  # of a corpus's encoding time, its first read (the vocabulary): 25 s of ~2 minutes for 2 GB


@dataclass
class EncodedCorpus:
    """A corpus as ids on disk plus its vocabulary."""

    ids: np.ndarray  # (N,) memory-mapped ids
    vocab: Vocab
    path: Path
    options: ReadOptions = ReadOptions()  # how the file was read
    digest: str | None = None  # corpus_cache.digest of the ids, which a resume compares (None: not known)
    skipped: dict[str, int] = field(default_factory=dict)  # characters left out, unseen by the model: how often each
    first_seen: np.ndarray | None = None  # (V,) where each id first occurs (-1: nowhere); None: not known

    def count(self, char: str) -> int:
        """How often `char` is in the text: a piece at a time, so that memory stays as it is for training."""
        if char not in self.vocab.index:
            return 0
        mark, ids, step = self.vocab.index[char], self.ids, reading.CHUNK_BYTES
        return sum(int(np.count_nonzero(ids[at:at + step] == mark)) for at in range(0, len(ids), step))

    def only_in_validation(self, val_fraction: float) -> dict[str, int]:
        """The characters of the validation split that the training split never has, and how often each is there:
        a trial's code base joined with its CJK and emoji last had 10% of its validation text in such characters,
        which no model learns, and was told it overfit."""
        train_ids, val_ids = self.split(val_fraction)
        size, step = len(self.vocab), reading.CHUNK_BYTES
        if self.first_seen is None:  # load_corpus always knows it (the cache keeps it); a corpus made by hand may not
            self.first_seen = corpus_cache.first_seen(self.ids, size)
        missing = self.first_seen >= len(train_ids)  # (V,): first seen in the split
        if not missing.any():
            return {}
        counts = sum((np.bincount(val_ids[at:at + step], minlength=size) for at in range(0, len(val_ids), step)),
                     np.zeros(size, dtype=np.int64))  # (V,)
        return {self.vocab.chars[index]: int(counts[index]) for index in np.flatnonzero(missing)}

    def split(self, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """(train, val): val is the last `val_fraction` of the text, like nanoGPT's shakespeare_char."""
        n_val = int(len(self.ids) * val_fraction)
        return self.ids[: len(self.ids) - n_val], self.ids[len(self.ids) - n_val :]

    def check_trainable(self, val_fraction: float) -> None:
        """Refuse a corpus whose split leaves fewer than 2 validation characters (one to read, one to predict)."""
        if int(len(self.ids) * val_fraction) < 2:
            needed = next(n for n in itertools.count(math.floor(2 / val_fraction))
                          if int(n * val_fraction) >= 2)  # the shortest corpus with 2 val chars, as split() rounds
            have = f"{len(self.ids):,} char{'s' * (len(self.ids) != 1)}"  # a trial's one-character file: "1 chars"
            raise CharnnError(f"{self.path} is too short to hold out validation text ({have}, "
                              f"{needed:,} needed) — give a longer corpus")


def check_corpus_path(path: Path) -> None:
    if str(path) == "-":
        raise CharnnError("a corpus is read from a file, not from stdin — save the text to a file and give its path")
    if not paths.exists(path):
        raise paths.missing(path, "corpus", "give the path of a UTF-8 text file", Path.is_file)
    if path.is_dir():
        # A trial's songs/; a later one's joined file held songs in UTF-16 and Windows-1252: each must be UTF-8. A
        # source tree has no *.txt, and subfolders (a trial's code base).
        raise CharnnError(f"{path} is a directory — give the path of a text file inside it, or join its files "
                          f"into one (e.g. cat {path / '*'}.txt > all.txt, or for code find {path} -name '*.py' "
                          f"-exec cat {{}} + > all.py; each in UTF-8) and give that")
    if not path.is_file():  # `/dev/stdin`, `<(…)`: read twice (vocabulary, then ids), a pipe was "empty" the 2nd time
        raise CharnnError(f"{path} is not a file but a pipe or device — save the text to a file and give its path")
    if path.stat().st_size == 0:  # here, before torch loads: told in 3.6 s in a new-user trial
        raise empty_corpus(path)
    kind = reading.document_kind(path)
    if kind:  # a trial's lyrics.rtf trained on `\f0\fs24` and `\par`; its .docx was "a binary file" at byte 10
        raise CharnnError(f"{path} is {kind}, not plain text — save or export it as plain text (.txt, UTF-8) from "
                          "the program that made it, and give that")


def empty_corpus(path: Path) -> CharnnError:
    return CharnnError(f"corpus {path} is empty — give a text file with some text in it")


def is_cached(path: str | Path, options: ReadOptions = ReadOptions(), vocab: Vocab | None = None) -> bool:
    """Whether `load_corpus` would read `path` from the cache rather than encode it (seconds for tens of MB)."""
    path = Path(path)
    if not path.is_file():
        return False
    own = corpus_cache.read(source_of(path, options, None)) if vocab is not None else None
    return corpus_cache.holds(source_of(path, options, vocab)) or (own is not None and own[1] == vocab)


def source_of(path: Path, options: ReadOptions, vocab: Vocab | None) -> dict:
    """What a cache entry is of: this file as it is now, read this way (with a model's vocabulary, for eval)."""
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "options": options.__dict__, "vocab": vocab.chars if vocab else None}


def load_corpus(path: str | Path, options: ReadOptions = ReadOptions(), vocab: Vocab | None = None,
                on_progress: Callable[[float], None] | None = None, unknown: str = "error") -> EncodedCorpus:
    """Encode `path` (cached). With `vocab`, encode with that vocabulary: characters it lacks are an error, or with
    `unknown="skip"` left out (counted in `skipped`; such a read, where it leaves any out, is not cached but held
    in memory, since its entry would serve a later read that must refuse them).
    `on_progress(fraction done)` as it encodes (not when it reads the cache): a 2 GB corpus took two minutes."""
    path = Path(path)
    check_corpus_path(path)
    scoring = vocab is not None  # eval's read: it keeps nothing, so it needs no cache
    skipping = scoring and unknown == "skip"
    skipped: dict[str, int] = {}
    source = source_of(path, options, vocab)
    cached = corpus_cache.read(source)  # an entry holds no character the model lacks: a skipping read may use it
    if cached is None and scoring:  # eval with the vocabulary training found: training's entry serves
        own = corpus_cache.read(source_of(path, options, None))
        cached = own if own is not None and own[1] == vocab else None
    if cached is not None:
        return EncodedCorpus(*cached[:2], path, options, cached[2], first_seen=cached[3])
    # Both reads take the bytes the file had when the first began: a file written to meanwhile (a log, a download)
    # had its later characters encoded as others, silently (a new-user trial).
    size = source["size"]
    first_share = 0.0 if vocab is not None else FIRST_READ_SHARE

    def progress(share: float, start: float):  # bytes read → a fraction of the whole encoding
        return None if on_progress is None else lambda done: on_progress(start + share * done / max(size, 1))

    if vocab is None:
        seen: set[str] = set()
        for text in iter_text(path, options, size, progress(first_share, 0.0)):
            seen.update(text)
        vocab = Vocab("".join(sorted(seen)))

    def encoded():  # (n,) ids a chunk of text at a time
        for text in iter_text(path, options, size, progress(1 - first_share, first_share)):
            missing = vocab.unknown(text) if scoring else []  # a vocabulary read from this file has every character
            if missing and skipping:  # a held-out poem's one new capital refused it whole (two new-user trials)
                for char in missing:
                    skipped[char] = skipped.get(char, 0) + text.count(char)
                text = text.translate(dict.fromkeys(map(ord, missing)))
            elif missing:
                # A file read in another encoding than its own shows characters that are not in it (a new-user
                # trial: a UTF-8 file read as latin-1, its run's encoding, showed 'Ã' and '\x87' for 'Ç')
                other = "" if codecs.lookup(options.encoding).name == "utf-8" else (
                    f", reading it as {options.encoding} (give --encoding if it is in another)")
                raise CharnnError(f"{path} has characters this model never saw: {listed(missing)}{other} — "
                                  "evaluate on text written in the model's alphabet, or give --unknown skip to "
                                  "score the text without them")
            try:
                yield vocab._encode_known(text, checked=not scoring).astype(vocab.dtype)
            except ValueError:  # changed in place between the two reads (a change in characters it has is not seen)
                raise CharnnError(f"{path} changed while it was read — run again once nothing is writing to it"
                                  ) from None

    def in_memory():  # (ids, digest, first_seen), or Nones where there is no text
        chunks = list(encoded())
        if not chunks:
            return None, None, None
        ids = np.concatenate(chunks)
        return ids, corpus_cache.digest(chunks), corpus_cache.first_seen(ids, len(vocab))

    try:  # a skipping read is not cached: its entry would serve a later read that must refuse those characters
        ids, digest, first = in_memory() if skipping else (corpus_cache.write(source, encoded(), vocab)
                                                           or (None, None, None))
    except OSError as error:
        if not scoring:
            folder = corpus_cache.cache_dir()
            why = "it is a file, not a folder" if folder.is_file() else error.strerror  # not "File exists" (a trial)
            # A full disk is not an unwritable folder (a trial).
            # How much: a trial's cache filled the disk and said nothing of what it needed. At most a character a
            # byte of the file (UTF-8), each 1 or 2 bytes of ids (Vocab.dtype).
            need = size * vocab.dtype.itemsize
            amount = (f"{need / 1e9:.1f} GB" if need >= 1e9 else f"{need / 1e6:.0f} MB" if need >= 1e6
                      else f"{max(1, round(need / 1e3))} KB")
            fix = (f"it needs up to {amount}: free disk space there, or set CHARNN_CACHE to a folder on another disk"
                   if error.errno in (errno.ENOSPC, errno.EDQUOT) else "set CHARNN_CACHE to a writable folder")
            raise CharnnError(f"cannot write the encoded-corpus cache in {folder}: {why} — {fix}") from None
        ids, digest, first = in_memory()  # instead (a trial: `charnn eval` refused a read-only CHARNN_CACHE)
    if ids is None:
        raise empty_corpus(path)
    return EncodedCorpus(ids, vocab, path, options, digest, skipped, first)
