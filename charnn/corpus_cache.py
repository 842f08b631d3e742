"""The encoded-corpus cache: a corpus's ids in a flat file, its vocabulary and source in a JSON file beside it.

An entry is found by what it is of (`source`: the file's path, size and mtime, how it was read, and a model's
vocabulary where eval encoded it with one), hashed into its name. Writing one removes the entries of earlier
versions of the same file, and of files that are gone: each edit of a corpus left a full copy behind (a new-user
trial: 57 MB after a day). Files are written whole (a temp file, fsynced, renamed), the ids before the JSON file
that says they are there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from charnn.errors import CharnnError
from charnn.vocab import Vocab

# Of the entries' layout and of how text is read (2: found by their `source`; 3: byte-order marks dropped inside a
# file too, and zero bytes refused): an entry of another version is not read, and writing an entry for its file
# removes it (its name is not its source's under this version).
VERSION = 3


def cache_dir() -> Path:
    """Where encoded corpora are cached: $CHARNN_CACHE, else $XDG_CACHE_HOME/charnn, else ~/.cache/charnn."""
    if os.environ.get("CHARNN_CACHE"):
        return Path(os.environ["CHARNN_CACHE"]).expanduser()  # `CHARNN_CACHE='~/x'` made a folder named ~ (a trial)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "charnn"


def stem(source: dict) -> Path:
    """The entry's path without its suffix (.ids, .json)."""
    return cache_dir() / hashlib.sha256(json.dumps([VERSION, source]).encode()).hexdigest()[:24]


def holds(source: dict) -> bool:
    return stem(source).with_suffix(".json").exists()


def hasher():
    return hashlib.blake2b(digest_size=16)  # 128 bits: a fingerprint, not a secret


def digest(chunks: Iterable[np.ndarray]) -> str:
    """A fingerprint of a corpus's ids, which a run keeps: a resume on other text of the same length and characters
    (an edited corpus) was taken for the run's own."""
    hashed = hasher()
    for chunk in chunks:
        hashed.update(chunk.tobytes())
    return hashed.hexdigest()


class FirstSeen:
    """Where each id first occurs in a corpus's ids, given a chunk at a time (-1: nowhere). A character first seen in
    the validation split is one the training text never has (`EncodedCorpus.only_in_validation`): known at once,
    where scanning a 2 GB corpus for it took ~10 s at each start (a review)."""

    def __init__(self, size: int):
        self.first, self.offset = np.full(size, -1, dtype=np.int64), 0  # (V,)

    def add(self, chunk: np.ndarray) -> None:
        new = (np.bincount(chunk, minlength=len(self.first)) > 0) & (self.first < 0)  # (V,)
        if new.any():  # the first chunk, then rarely
            where = np.flatnonzero(new[chunk])
            ids, at = np.unique(chunk[where], return_index=True)
            self.first[ids] = self.offset + where[at]
        self.offset += len(chunk)


def first_seen(ids: np.ndarray, size: int) -> np.ndarray:
    """`FirstSeen` of `ids` (N,), for `size` ids, read a piece at a time."""
    seen, step = FirstSeen(size), 1 << 22
    for at in range(0, len(ids), step):
        seen.add(ids[at:at + step])
    return seen.first


def read(source: dict) -> tuple[np.ndarray, Vocab, str, np.ndarray] | None:
    """(ids (N,) memory-mapped, vocabulary, their `digest`, `first_seen`), or None when there is no entry (or it is
    damaged: then it is rebuilt)."""
    ids_path, meta_path = stem(source).with_suffix(".ids"), stem(source).with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        vocab = Vocab(meta["vocab"])
        if ids_path.stat().st_size != meta["length"] * vocab.dtype.itemsize or not meta["length"]:
            return None
        ids = np.memmap(ids_path, dtype=vocab.dtype, mode="r", shape=(meta["length"],))
    except (OSError, ValueError, KeyError, CharnnError):  # also an entry removed meanwhile (by `drop_earlier`)
        return None
    stale = False  # what an entry from before it was kept lacks (or a damaged one) is found once, and kept
    try:
        first = np.asarray(meta.get("first"), dtype=np.int64)  # (V,)
    except (TypeError, ValueError, OverflowError):
        first = None
    if first is None or first.shape != (len(vocab),):
        first, stale = first_seen(ids, len(vocab)), True
        meta["first"] = first.tolist()
    if not isinstance(meta.get("digest"), str):  # else its runs' resumes would go unchecked
        meta["digest"], stale = digest([ids]), True
    if stale:
        with contextlib.suppress(OSError):  # this read has them either way
            write_meta(meta_path, meta)
    return ids, vocab, meta["digest"], first


def write(source: dict, chunks: Iterable[np.ndarray], vocab: Vocab) -> tuple[np.ndarray, str, np.ndarray] | None:
    """The ids in `chunks` (each (n,) of `vocab.dtype`) as the entry of `source`: (ids memory-mapped, their `digest`,
    `first_seen`); None where there were none (nothing is written then). Whatever stops `chunks` (bad text, a full
    disk, Ctrl-C) leaves no file."""
    ids_path, meta_path = stem(source).with_suffix(".ids"), stem(source).with_suffix(".json")
    ids_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_ids, length, hashed = ids_path.with_suffix(f".tmp{os.getpid()}"), 0, hasher()
    seen = FirstSeen(len(vocab))
    try:
        with open(tmp_ids, "wb") as out:
            for chunk in chunks:
                data = chunk.tobytes()
                out.write(data)
                hashed.update(data)
                seen.add(chunk)
                length += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp_ids.unlink(missing_ok=True)
        raise
    if length == 0:
        tmp_ids.unlink(missing_ok=True)
        return None
    os.replace(tmp_ids, ids_path)
    meta = {"vocab": vocab.chars, "length": length, "source": source, "digest": hashed.hexdigest(),
            "first": seen.first.tolist()}
    write_meta(meta_path, meta)  # last: a reader never sees meta without its ids
    drop_earlier(meta_path, source)
    return np.memmap(ids_path, dtype=vocab.dtype, mode="r", shape=(length,)), meta["digest"], seen.first


def write_meta(meta_path: Path, meta: dict) -> None:
    tmp_meta = meta_path.with_suffix(f".tmp{os.getpid()}")
    tmp_meta.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp_meta, meta_path)


def drop_earlier(kept: Path, source: dict) -> None:
    """Remove the entries of earlier versions of `source`'s file (another size or mtime), however they were read, and
    those of files that are gone (renamed, moved, deleted: a trial's `mv` of a 2 GB corpus left its 4 GB entry for
    good): no lookup finds them again. An entry another process is still reading stays readable to it until it
    closes it."""
    for meta_path in kept.parent.glob("*.json"):
        if meta_path == kept:
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            other = meta.get("source")
            if not isinstance(other, dict):
                continue
            gone = file_gone(Path(other["path"]))
            # The same file read by another version's rules is one too: its name is not its source's under this
            # VERSION (a review: an entry of version 2 stayed beside version 3's for good).
            same = (other.get("size"), other.get("mtime_ns")) == (source["size"], source["mtime_ns"]) and (
                stem(other) == meta_path.with_suffix(""))
            if not gone and (other.get("path") != source["path"] or same):
                continue
            meta_path.unlink()  # first: a reader never sees meta without its ids
            meta_path.with_suffix(".ids").unlink(missing_ok=True)
        except (OSError, ValueError, AttributeError, KeyError, TypeError):  # gone already, or not ours to read
            continue


def file_gone(path: Path) -> bool:
    """Whether `path` was moved or deleted: its folder is here and it is not. Not where its folder is missing too (a
    drive that is away, a path of another machine or container sharing this cache) or cannot be read: an entry still
    needed costs a full read to rebuild (minutes for GBs)."""
    try:
        path.stat()
    except FileNotFoundError:
        return path.parent.is_dir()
    except OSError:
        return False
    return False
