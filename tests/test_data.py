"""Vocab, chunked UTF-8 reading, the memory-mapped id cache and StreamBatcher."""

from __future__ import annotations

import dataclasses
import errno
import json
import re

import numpy as np
import pytest

import charnn.data as data
from charnn import corpus_cache, reading
from charnn.batches import StreamBatcher
from charnn.data import ReadOptions, iter_text, load_corpus
from charnn.errors import CharnnError
from charnn.vocab import Vocab, listed

MULTIBYTE = "a é ñ 日本 🙂 z\n"


def read_all(path, options=ReadOptions()):
    return "".join(iter_text(path, options))


# --- Vocab -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["hello world", MULTIBYTE, "🙂🙂日日éé", "", "\n\t "])
def test_vocab_round_trip(text):
    vocab = Vocab("".join(sorted(set(text + "a"))))
    ids = vocab.encode(text)
    assert len(ids) == len(text)  # one id per character, not per byte
    assert vocab.decode(ids) == text
    assert all(vocab.chars[i] == c for i, c in zip(ids.tolist(), text, strict=True))


def test_vocab_ids_are_positions_in_unsorted_chars():
    vocab = Vocab("z日a🙂é")  # deliberately not in code-point order
    assert vocab.encode("a🙂z日é").tolist() == [2, 3, 0, 1, 4]


def test_vocab_shows_its_characters():
    """A student's print(vocab) showed `<charnn.vocab.Vocab object at 0x…>`."""
    assert repr(Vocab("ab\n")) == "Vocab(3 characters: 'ab\\n')"
    many = "".join(map(chr, range(65, 165)))
    assert repr(Vocab(many)) == f"Vocab(100 characters: {many[:40]!r}…)"


def meta_first(meta_path) -> list[int]:
    return json.loads(meta_path.read_text(encoding="utf-8"))["first"]


def test_the_characters_only_the_validation_split_has(write_corpus, monkeypatch):
    """Read from the training text's end back, a piece at a time, until every validation character is found: one
    only at the file's start is found there, and one never in training is counted."""
    monkeypatch.setattr(reading, "CHUNK_BYTES", 16)
    text = "Q" + "ab " * 300 + "Q é é"  # the last 10%: 'Q', 'é', 'a', 'b', ' '
    corpus = load_corpus(write_corpus(text.encode()))
    assert corpus.only_in_validation(0.1) == {"é": 2}
    early = write_corpus(("é" + text).encode())
    assert load_corpus(early).only_in_validation(0.1) == {}
    # From where each character first occurs, which the cache keeps (and an entry from before it gets at its read);
    # without it, by reading the text.
    assert corpus.first_seen[corpus.vocab.index["é"]] == text.index("é")
    assert dataclasses.replace(corpus, first_seen=None).only_in_validation(0.1) == {"é": 2}
    [meta_path] = corpus_cache.cache_dir().glob("*.json")  # early's: the entry of the text before it went
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    del meta["first"]
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    again = load_corpus(early)
    assert again.only_in_validation(0.1) == {} and again.first_seen.tolist() == meta_first(meta_path)
    for damaged in ("x", [1, 2], ["a"] * len(again.vocab)):  # found again, not trusted
        meta_path.write_text(json.dumps({**meta, "first": damaged}), encoding="utf-8")
        assert load_corpus(early).first_seen.tolist() == again.first_seen.tolist()
    seen = corpus_cache.FirstSeen(5)
    for chunk in ([3, 1], [3, 2, 1], [4]):
        seen.add(np.array(chunk, dtype=np.uint8))
    assert seen.first.tolist() == [-1, 1, 3, 0, 5]


def test_vocab_rejects_repeated_chars():
    with pytest.raises(CharnnError):
        Vocab("abca")


def test_unknown_error_names_the_characters():
    vocab = Vocab("abc ")
    with pytest.raises(CharnnError) as info:
        vocab.encode("ab日x")
    assert "'日'" in str(info.value) and "'x'" in str(info.value)


def test_unknown_characters_are_listed_readably_and_the_list_says_when_it_stops():
    vocab = Vocab("abc ")
    with pytest.raises(CharnnError) as info:
        vocab.encode("e\u0301a\u200d" + "".join(chr(0x4E00 + i) for i in range(12)))
    message = str(info.value)
    assert "U+0301 COMBINING ACUTE ACCENT" in message and "U+200D ZERO WIDTH JOINER" in message
    assert "'e'" in message and "… (15 in all)" in message and repr(chr(0x4E00 + 6)) in message
    assert repr(chr(0x4E00 + 7)) not in message  # ten shown
    assert listed(["\r", "\x1b"]) == "'\\r', '\\x1b'"  # controls have no names: Python's escapes


def test_unknown_skip_and_replace():
    vocab = Vocab("abc \n")
    assert vocab.decode(vocab.encode("a日b🙂c", unknown="skip")) == "abc"
    assert vocab.decode(vocab.encode("a日b🙂c", unknown="replace")) == "a b c"
    no_space = Vocab("xyz")
    assert no_space.decode(no_space.encode("x!y", unknown="replace")) == "xxy"  # falls back to chars[0]


def test_unknown_policy_must_be_known():
    with pytest.raises(CharnnError):
        Vocab("ab").encode("abc", unknown="ignore")


def test_unknown_lists_missing_in_order_once():
    assert Vocab("ab").unknown("xaybxz") == ["x", "y", "z"]


@pytest.mark.parametrize("size, dtype", [(1, np.uint8), (256, np.uint8), (257, np.uint16), (300, np.uint16)])
def test_vocab_dtype(size, dtype):
    assert Vocab("".join(chr(0x100 + i) for i in range(size))).dtype == np.dtype(dtype)


# --- load_corpus -----------------------------------------------------------------------------------


def test_load_corpus_memmaps_the_encoding(write_corpus):
    path = write_corpus(MULTIBYTE * 5)
    corpus = load_corpus(path)
    assert isinstance(corpus.ids, np.memmap)
    assert corpus.vocab.chars == "".join(sorted(set(MULTIBYTE)))
    assert corpus.ids.dtype == corpus.vocab.dtype
    np.testing.assert_array_equal(corpus.ids, corpus.vocab.encode(MULTIBYTE * 5))


def test_load_corpus_reuses_the_cache(write_corpus, tmp_path, monkeypatch):
    path = write_corpus(MULTIBYTE * 3)
    first = load_corpus(path)
    cache = corpus_cache.cache_dir()
    files = sorted(p.name for p in cache.iterdir())
    assert any(name.endswith(".ids") for name in files) and any(name.endswith(".json") for name in files)

    def no_reading(*args, **kwargs):
        raise AssertionError("the corpus was read again instead of coming from the cache")

    monkeypatch.setattr(data, "iter_text", no_reading)
    second = load_corpus(path)
    assert second.vocab == first.vocab
    np.testing.assert_array_equal(second.ids, first.ids)
    assert sorted(p.name for p in cache.iterdir()) == files


def test_cache_is_keyed_by_content_change(write_corpus):
    path = write_corpus("aaaa bbbb\n")
    load_corpus(path)
    path.write_text("cccc dddd eeee\n", encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus.vocab.decode(corpus.ids) == "cccc dddd eeee\n"


def test_the_entry_of_a_corpus_that_has_gone_goes_at_the_next_encoding(write_corpus):
    """A trial's `mv big.txt big2.txt` of a 2 GB corpus left its 4 GB entry behind for good."""
    kept, moved = write_corpus("aaaa bbbb\n"), write_corpus("xyz xyz\n", name="moved.txt")
    load_corpus(kept), load_corpus(moved)
    cache = corpus_cache.cache_dir()
    assert len(list(cache.glob("*.ids"))) == 2
    moved.rename(moved.with_name("renamed.txt"))
    assert load_corpus(kept).vocab.decode(load_corpus(kept).ids) == "aaaa bbbb\n"  # read: nothing is written
    assert len(list(cache.glob("*.ids"))) == 2
    renamed = load_corpus(moved.with_name("renamed.txt"))  # encoded: the gone file's entry goes
    assert renamed.vocab.decode(renamed.ids) == "xyz xyz\n" and len(list(cache.glob("*.ids"))) == 2
    assert data.is_cached(kept) and data.is_cached(moved.with_name("renamed.txt"))
    # A file whose folder is missing too (a drive that is away, another machine's path) keeps its entry (a review).
    away = write_corpus("away away\n", name="drive/away.txt")
    load_corpus(away)
    away.parent.rename(away.parent.with_name("elsewhere"))
    load_corpus(write_corpus("new text\n", name="new.txt"))
    assert len(list(cache.glob("*.ids"))) == 4


@pytest.mark.parametrize("change", ["appended", "rewritten"])
def test_a_corpus_written_to_while_it_is_read_is_never_encoded_as_other_characters(write_corpus, monkeypatch, change):
    """A trial appended Cyrillic lines to a corpus while it was encoded: the vocabulary (the first read) lacked the
    later letters, and the second read encoded them as other characters (`Ф` as `✨`), silently. Both reads now take
    the bytes the file had at the start; a file changed in place between them is refused."""
    path = write_corpus("aaaa bbbb\n" * 3)
    reads, real = [], data.iter_text

    def iter_text(*args, **kwargs):
        if reads:  # the second read: the file has been written to since the first
            with open(path, "a" if change == "appended" else "r+", encoding="utf-8") as file:
                file.write("ФФФ\n" if change == "appended" else "zzzz")
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "iter_text", iter_text)
    if change == "appended":
        corpus = load_corpus(path)
        assert corpus.vocab.decode(corpus.ids) == "aaaa bbbb\n" * 3 and "Ф" not in corpus.vocab.chars
    else:
        with pytest.raises(CharnnError, match="changed while it was read — run again once nothing is writing to it"):
            load_corpus(path)
        assert not list(corpus_cache.cache_dir().glob("*.ids"))


def test_encoding_reports_its_progress_over_both_reads(write_corpus, monkeypatch):
    """A trial's 2 GB corpus took two minutes to encode with nothing moving on the screen."""
    monkeypatch.setattr(reading, "CHUNK_BYTES", 64)
    path = write_corpus("aaaa bbbb\n" * 100)  # 1,000 bytes: 16 chunks a read
    seen: list[float] = []
    load_corpus(path, on_progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 32
    assert max(f for f in seen if f <= data.FIRST_READ_SHARE) == data.FIRST_READ_SHARE  # the first read's share
    again: list[float] = []
    load_corpus(path, on_progress=again.append)
    assert again == []  # read from the cache: nothing to report
    scored: list[float] = []
    load_corpus(path, vocab=Vocab(" \nabz"), on_progress=scored.append)  # one read: the vocabulary is given
    assert scored == sorted(scored) and scored[0] < 0.1 and scored[-1] == 1.0


def test_an_edited_corpus_replaces_its_cache_entry(write_corpus):
    """Entries are keyed by size and mtime, so each edit of a corpus left a full copy behind (a new-user trial: 57 MB
    of them after a day). Another file's entry stays; so do, until the file changes, the same file read another way
    and its encodings with models' vocabularies (`charnn eval`)."""
    path, other = write_corpus("aaaa bbbb\n"), write_corpus("xyz xyz\n", name="other.txt")
    load_corpus(path), load_corpus(other), load_corpus(path, ReadOptions(keep_crlf=True))
    model_vocabs = Vocab(" \nabcdefxyz"), Vocab(" \nabcdefghxyz")  # two checkpoints' alphabets, `charnn eval`
    load_corpus(path, vocab=model_vocabs[0]), load_corpus(path, vocab=model_vocabs[1])
    cache = corpus_cache.cache_dir()
    before = {p.name for p in cache.iterdir()}
    assert len(before) == 10 and data.is_cached(path) and not data.is_cached(path, ReadOptions(errors="replace"))
    assert all(data.is_cached(path, vocab=vocab) for vocab in model_vocabs)  # neither removed the other's
    path.write_text("cccc dddd eeee\n", encoding="utf-8")
    assert not data.is_cached(path)
    corpus = load_corpus(path)
    assert corpus.vocab.decode(corpus.ids) == "cccc dddd eeee\n"
    after = {p.name for p in cache.iterdir()}  # the old version's entries, however read, are gone; other.txt's stays
    assert len(after) == 4 and len(before - after) == 8 and all(name.endswith((".ids", ".json")) for name in after)
    assert load_corpus(other).vocab.decode(load_corpus(other).ids) == "xyz xyz\n"
    # `charnn eval` with the vocabulary training found reads training's entry (a trial: a second 50 MB copy).
    assert data.is_cached(path, vocab=corpus.vocab)
    again = load_corpus(path, vocab=Vocab(corpus.vocab.chars))
    assert {p.name for p in cache.iterdir()} == after and again.vocab.decode(again.ids) == "cccc dddd eeee\n"


def test_an_entry_read_by_an_earlier_versions_rules_is_replaced(write_corpus, monkeypatch):
    """A review: version 3 reads a file as version 2 did not (byte-order marks inside it), and the old entry of the
    same file, same size and mtime, stayed on disk for good (a 2 GB corpus's: 2–4 GB)."""
    path = write_corpus("aaaa bbbb\n")
    monkeypatch.setattr(corpus_cache, "VERSION", 2)
    load_corpus(path)
    old = {p.name for p in corpus_cache.cache_dir().iterdir()}
    for meta in corpus_cache.cache_dir().glob("*.json"):  # as version 2 wrote it: no version in it
        record = json.loads(meta.read_text())
        record.pop("version", None)
        meta.write_text(json.dumps(record))
    monkeypatch.setattr(corpus_cache, "VERSION", 3)
    load_corpus(path)
    new = {p.name for p in corpus_cache.cache_dir().iterdir()}
    assert len(old) == len(new) == 2 and not old & new


def test_cache_lives_under_charnn_cache(write_corpus, tmp_path, monkeypatch):
    cache = tmp_path / "my-cache"
    monkeypatch.setenv("CHARNN_CACHE", str(cache))
    load_corpus(write_corpus("hello\n"))
    assert any(cache.iterdir())


def test_an_unusable_cache_stops_training_with_the_fix_and_eval_reads_in_memory(write_corpus, tmp_path, monkeypatch):
    """A trial: `charnn eval`, which keeps nothing, refused a read-only CHARNN_CACHE; a CHARNN_CACHE that is a file
    said "File exists"; and `~/x` made a folder named ~."""
    (tmp_path / "a-file").write_text("x")
    path = write_corpus("hello there\n")
    monkeypatch.setenv("CHARNN_CACHE", str(tmp_path / "a-file"))
    with pytest.raises(CharnnError, match=r"a-file: it is a file, not a folder — set CHARNN_CACHE to a writable"):
        load_corpus(path)
    monkeypatch.setenv("CHARNN_CACHE", str(tmp_path / "a-file" / "cache"))
    with pytest.raises(CharnnError, match="cannot write the encoded-corpus cache"):
        load_corpus(path)
    with monkeypatch.context() as patched:

        def full(*args):
            raise OSError(errno.ENOSPC, "No space left on device")

        patched.setattr(corpus_cache, "write", full)
        with pytest.raises(CharnnError, match=r"No space left on device — it needs up to 1 KB: free disk space "
                                              r"there, or set CHARNN_CACHE to a folder on another disk$"):
            load_corpus(path)
    scored = load_corpus(path, vocab=Vocab(" ehlort\n"))
    assert scored.vocab.decode(scored.ids) == "hello there\n"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CHARNN_CACHE", "~/tilde-cache")
    load_corpus(path)
    assert any((tmp_path / "tilde-cache").iterdir())


def test_bom_is_dropped(write_corpus):
    path = write_corpus(b"\xef\xbb\xbfhi\n")
    assert read_all(path) == "hi\n"
    assert "\ufeff" not in load_corpus(path).vocab.chars


def test_bom_dropped_with_tiny_chunks(write_corpus, monkeypatch):
    monkeypatch.setattr(reading, "CHUNK_BYTES", 1)
    assert read_all(write_corpus(b"\xef\xbb\xbfhi\n")) == "hi\n"


def test_crlf_normalised_and_kept_on_request(write_corpus):
    path = write_corpus(b"one\r\ntwo\r\nthree\rfour\r\n")
    assert read_all(path) == "one\ntwo\nthree\rfour\n"  # a lone CR stays
    assert read_all(path, ReadOptions(keep_crlf=True)) == "one\r\ntwo\r\nthree\rfour\r\n"
    normalised = load_corpus(path)
    assert normalised.vocab.decode(normalised.ids) == "one\ntwo\nthree\rfour\n"
    kept = load_corpus(path, ReadOptions(keep_crlf=True))
    assert kept.vocab.decode(kept.ids) == "one\r\ntwo\r\nthree\rfour\r\n"


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 5, 7])
def test_crlf_split_across_chunk_boundary(write_corpus, monkeypatch, chunk):
    monkeypatch.setattr(reading, "CHUNK_BYTES", chunk)
    raw = "ab\r\ncd\r\né\r\n日\r\r\n".encode()
    path = write_corpus(raw)
    assert read_all(path) == raw.decode().replace("\r\n", "\n") == "ab\ncd\né\n日\r\n"
    assert read_all(path, ReadOptions(keep_crlf=True)) == raw.decode()


def test_crlf_exactly_at_chunk_boundary(write_corpus, monkeypatch):
    monkeypatch.setattr(reading, "CHUNK_BYTES", 4)
    path = write_corpus(b"abc\r\ndef\r")  # '\r' is byte 3, the last of the first chunk
    assert read_all(path) == "abc\ndef\r"
    corpus = load_corpus(path)
    assert corpus.vocab.decode(corpus.ids) == "abc\ndef\r"


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 22])
def test_multibyte_chars_survive_chunking(write_corpus, monkeypatch, chunk):
    monkeypatch.setattr(reading, "CHUNK_BYTES", chunk)
    text = MULTIBYTE * 3
    corpus = load_corpus(write_corpus(text))
    assert corpus.vocab.decode(corpus.ids) == text


def bad_byte_offset(message: str) -> int:
    import re

    found = re.search(r"byte offset (\d+)", message)
    assert found, message
    return int(found.group(1))


@pytest.mark.parametrize("chunk", [1 << 22, 1, 3, 4, 8])
@pytest.mark.parametrize("prefix", [b"", b"hello ", "h\xe9llo \u65e5 ".encode() * 3])
def test_bad_byte_offset_is_exact(write_corpus, monkeypatch, chunk, prefix):
    monkeypatch.setattr(reading, "CHUNK_BYTES", chunk)
    path = write_corpus(prefix + b"\xff rest\n")
    with pytest.raises(CharnnError) as info:
        load_corpus(path)
    assert bad_byte_offset(str(info.value)) == len(prefix)
    assert "0xff" in str(info.value)


@pytest.mark.parametrize("chunk", [1 << 22, 2, 5])
def test_bad_continuation_byte_offset(write_corpus, monkeypatch, chunk):
    # 0xe6 starts a 3-byte sequence; 'A' breaks it: the bad sequence starts at the 0xe6.
    monkeypatch.setattr(reading, "CHUNK_BYTES", chunk)
    prefix = "ab日cd".encode()
    with pytest.raises(CharnnError) as info:
        load_corpus(write_corpus(prefix + b"\xe6A tail"))
    assert bad_byte_offset(str(info.value)) == len(prefix)


def test_bad_byte_past_first_chunk(write_corpus, monkeypatch):
    monkeypatch.setattr(reading, "CHUNK_BYTES", 16)
    prefix = ("é" * 20 + "x" * 7).encode()  # 47 bytes: the bad byte is in the third chunk
    with pytest.raises(CharnnError) as info:
        load_corpus(write_corpus(prefix + b"\x80 more"))
    assert bad_byte_offset(str(info.value)) == 47


def test_a_binary_file_is_named_as_one(write_corpus):
    """--errors replace would train on it (a new-user trial got a 472-character vocabulary): no such hint."""
    with pytest.raises(CharnnError, match="looks like a binary file, not text") as info:
        load_corpus(write_corpus(b"\x7fELF\x02\x01\x01\x00\x00\x00\xd0\x8f\xff\x00"))
    assert "--errors replace" not in str(info.value)


@pytest.mark.parametrize(("written", "advice"), [("utf-16", "utf-16"), ("utf-16-le", "utf-16-le"),
                                                  ("utf-16-be", "utf-16-be"), ("utf-32", "utf-32")])
def test_utf16_text_is_named_as_such(write_corpus, written, advice):
    text = "ROMEO:\nBut soft, what light through yonder window breaks?\n"
    path = write_corpus(text.encode(written))
    message = f"looks like {advice[:6].upper()} text, not UTF-8 — use --encoding {advice}$"
    with pytest.raises(CharnnError, match=message):
        load_corpus(path)
    with pytest.raises(CharnnError, match="not UTF-8"):
        load_corpus(path, ReadOptions(encoding="utf-8-sig"))
    assert read_all(path, ReadOptions(encoding=advice)) == text  # and the advice works


def test_utf16_without_a_byte_order_mark_is_one_line_too(write_corpus):
    with pytest.raises(CharnnError, match="cannot be read as utf-16 .* --encoding utf-16-le"):
        load_corpus(write_corpus("no mark".encode("utf-16-le")), ReadOptions(encoding="utf-16"))


def test_truncated_multibyte_at_end_of_file(write_corpus):
    prefix = b"abc "
    with pytest.raises(CharnnError) as info:
        load_corpus(write_corpus(prefix + "日".encode()[:2]))
    assert bad_byte_offset(str(info.value)) == len(prefix)


def test_errors_replace_proceeds(write_corpus):
    corpus = load_corpus(write_corpus(b"ab\xffcd\n"), ReadOptions(errors="replace"))
    assert corpus.vocab.decode(corpus.ids) == "ab\ufffdcd\n"


def test_latin1_encoding(write_corpus):
    corpus = load_corpus(write_corpus("café\n".encode("latin-1")), ReadOptions(encoding="latin-1"))
    assert corpus.vocab.decode(corpus.ids) == "café\n"


def test_a_file_read_in_another_encoding_is_said_to_be(write_corpus):
    """A new-user trial: `charnn eval` of a UTF-8 file with a latin-1 run read it as latin-1, and blamed characters
    not in it ('Ã', '\x87' for 'Ç'); the error now says how it was read."""
    path = write_corpus("Ça été\n")  # UTF-8
    with pytest.raises(CharnnError, match=r"'Ã'.*reading it as latin-1 \(give --encoding"):
        load_corpus(path, ReadOptions(encoding="latin-1"), vocab=Vocab("\n aeçtéÇ"))
    with pytest.raises(CharnnError, match="never saw: 'x' — evaluate"):  # read as UTF-8: nothing to add
        load_corpus(write_corpus("Ça été x\n", "other.txt"), vocab=Vocab("\n aeçtéÇ"))


def test_a_pipe_or_stdin_as_the_corpus_is_refused_with_the_fix(tmp_path):
    """A new-user trial: `cat f | charnn train /dev/stdin` was called "empty" (read once for the vocabulary, the
    pipe had nothing left for the ids), and `charnn train -` "does not exist"."""
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(CharnnError, match="not a file but a pipe or device — save the text to a file"):
        load_corpus(fifo)  # refused before it is opened: opening a pipe with no writer would wait for ever
    with pytest.raises(CharnnError, match="not from stdin — save the text to a file"):
        load_corpus("-")


def test_a_printers_encoding_the_detector_prefers_is_not_offered(write_corpus, monkeypatch):
    """A trial's Spanish lyrics in Windows-1252 (46 KB) were told `use --encoding hp_roman8` (charset-normalizer's
    best reading, by a coherence of 0.745 to 0.624), which trained on `Seþorita`. Such encodings are left out."""
    import charset_normalizer

    class Reading:  # charset-normalizer's readings of that file, best first
        def __init__(self, encoding, language, coherence, text):
            self.encoding, self.language, self.chaos, self.coherence = encoding, language, 0.0, coherence
            self.could_be_from_charset, self.text = [encoding], text

        def __str__(self):
            return self.text

    text = "Señorita, ¿dónde estás? El café está frío, naïve crème brûlée à Montréal\n" * 40
    readings = [Reading("hp_roman8", "English", 0.745, text.replace("ñ", "þ")),
                Reading("cp1250", "German", 0.624, text), Reading("cp1252", "German", 0.624, text)]
    monkeypatch.setattr(charset_normalizer, "from_bytes", lambda sample: readings)
    with pytest.raises(CharnnError, match=r"or use --encoding cp1252 \(Windows\) or latin-1") as refused:
        load_corpus(write_corpus(text.encode("cp1252")))
    assert "hp_roman8" not in str(refused.value)


def test_unknown_encoding_is_charnn_error(write_corpus):
    with pytest.raises(CharnnError):
        load_corpus(write_corpus("x"), ReadOptions(encoding="no-such-codec"))


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf"])
def test_empty_corpus(write_corpus, content):
    with pytest.raises(CharnnError, match="empty"):
        load_corpus(write_corpus(content))


def test_missing_corpus(tmp_path):
    with pytest.raises(CharnnError, match="does not exist — give the path of a UTF-8 text file"):
        load_corpus(tmp_path / "nope.txt")


def test_a_mistyped_path_gets_the_likeliest_name_in_its_folder(tmp_path):
    """A new-user trial's `charnn train pycod.txt` beside pycode.txt."""
    from pathlib import Path

    from charnn.paths import closest_sibling

    for name in ("pycode.txt", "pysmall.txt", "notes.md", ".pycode.txt.sw"):
        (tmp_path / name).write_text("x")
    (tmp_path / "corpora").mkdir()
    with pytest.raises(CharnnError, match=f"corpus {tmp_path / 'pycod.txt'} does not exist — did you mean "
                                          f"{tmp_path / 'pycode.txt'}\\?$"):
        load_corpus(tmp_path / "pycod.txt")
    assert closest_sibling(tmp_path / "pysmal.txt", Path.is_file) == tmp_path / "pysmall.txt"
    # The name without its suffix (a trial's `charnn train work/code` for code.txt: too short to be close enough).
    assert closest_sibling(tmp_path / "notes", Path.is_file) == tmp_path / "notes.md"
    assert closest_sibling(tmp_path / "songs.txt", Path.is_file) is None  # nothing alike: the usual advice
    assert closest_sibling(tmp_path / "gone" / "pycode.txt", Path.is_file) is None  # no such folder
    # Of the kind meant (a review: a corpus's typo was offered a folder, a checkpoint's the corpus), never hidden.
    assert closest_sibling(tmp_path / "corpra", Path.is_file) is None
    assert closest_sibling(tmp_path / "corpra", Path.is_dir) == tmp_path / "corpora"
    assert closest_sibling(tmp_path / "pycode.txt.sw", Path.is_file) == tmp_path / "pycode.txt"  # not the .swp
    # A link to nothing is said as one: it was its own "did you mean" (a review).
    (tmp_path / "link.txt").symlink_to(tmp_path / "nowhere.txt")
    with pytest.raises(CharnnError, match="link.txt is a link to .*nowhere.txt, which does not exist — give the path"):
        load_corpus(tmp_path / "link.txt")


def test_run_folders_are_listed_in_number_order():
    from charnn.paths import number_order

    names = ["run-10", "run-9", "run", "run-2", "run-5²", "run-٣"]
    assert sorted(names, key=number_order) == ["run", "run-2", "run-5²", "run-9", "run-10", "run-٣"]  # '²' no crash


def test_directory_corpus(tmp_path):
    with pytest.raises(CharnnError, match="directory"):
        load_corpus(tmp_path)


def test_no_partial_cache_after_failure(write_corpus):
    with pytest.raises(CharnnError):
        load_corpus(write_corpus(b"ok \xff"))
    cache = corpus_cache.cache_dir()
    assert not cache.exists() or not any(p.suffix == ".json" for p in cache.iterdir())


def test_load_with_given_vocab(write_corpus):
    vocab = Vocab("\nabcdef ")
    corpus = load_corpus(write_corpus("face bad\n"), vocab=vocab)
    assert corpus.vocab == vocab
    np.testing.assert_array_equal(corpus.ids, vocab.encode("face bad\n"))
    with pytest.raises(CharnnError, match="never saw"):
        load_corpus(write_corpus("xyz\n", "other.txt"), vocab=vocab)


def test_wide_vocab_uses_uint16(write_corpus):
    text = "".join(chr(0x4E00 + i) for i in range(300)) + "\n"
    corpus = load_corpus(write_corpus(text))
    assert corpus.ids.dtype == np.uint16
    assert corpus.vocab.decode(corpus.ids) == text
    again = load_corpus(corpus.path)  # from the cache, with the same dtype
    assert again.ids.dtype == np.uint16
    np.testing.assert_array_equal(again.ids, corpus.ids)


def test_split_is_tail(write_corpus):
    corpus = load_corpus(write_corpus("abcdefghij"))
    train, val = corpus.split(0.3)
    assert corpus.vocab.decode(train) == "abcdefg" and corpus.vocab.decode(val) == "hij"


# --- StreamBatcher ---------------------------------------------------------------------------------


def test_targets_are_inputs_shifted_by_one():
    ids = np.arange(1000, dtype=np.uint16)
    batcher = StreamBatcher(ids, batch_size=4, seq_len=16, seed=1)
    for step in range(3 * batcher.steps_per_epoch):
        inputs, targets, _ = batcher.batch(step)
        assert inputs.shape == targets.shape == (4, 16)
        assert inputs.dtype == np.int64
        np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
        np.testing.assert_array_equal(targets, inputs + 1)  # ids are positions here
        assert targets.max() < len(ids)


def test_streams_are_contiguous_within_an_epoch():
    ids = np.arange(1001, dtype=np.int64)
    batcher = StreamBatcher(ids, batch_size=3, seq_len=10, seed=5)
    assert batcher.steps_per_epoch >= 3
    for epoch in range(3):
        first = epoch * batcher.steps_per_epoch
        starts = [batcher.batch(first + i) for i in range(batcher.steps_per_epoch)]
        assert starts[0][2] and not any(s[2] for s in starts[1:])
        for (_, prev_targets, _), (inputs, _, _) in zip(starts, starts[1:], strict=False):
            np.testing.assert_array_equal(inputs[:, 0], prev_targets[:, -1])
        # Streams are disjoint slices of one text: stream b+1 starts stream_len after stream b.
        first_inputs = starts[0][0]
        np.testing.assert_array_equal(np.diff(first_inputs[:, 0]), batcher.stream_len)


def test_epoch_offsets_are_deterministic_and_in_range():
    ids = np.arange(997)
    a, b = StreamBatcher(ids, 4, 16, seed=3), StreamBatcher(ids, 4, 16, seed=3)
    assert a.slack > 0
    for epoch in range(6):
        assert a.epoch_offset(epoch) == b.epoch_offset(epoch)
        assert 0 <= a.epoch_offset(epoch) <= a.slack
    assert a.epoch_offset(0) == 0
    assert len({StreamBatcher(ids, 4, 16, seed=s).epoch_offset(1) for s in range(20)}) > 1


def test_too_short_corpus():
    with pytest.raises(CharnnError, match="too short"):
        StreamBatcher(np.arange(64), batch_size=4, seq_len=16, seed=0)  # needs 65
    StreamBatcher(np.arange(65), batch_size=4, seq_len=16, seed=0)


def test_a_one_character_corpus_is_one_char_not_one_chars(write_corpus):
    with pytest.raises(CharnnError, match=r"\(1 char, 20 needed\)"):
        load_corpus(write_corpus("a")).check_trainable(0.1)


SONG = "Kitchen light, kitchen light\nHold me through the night\n\n[Chorus]\nWhoa-oh, carry me home\n" * 3


@pytest.mark.parametrize("wide", ["utf-16", "utf-16-le"])
@pytest.mark.parametrize("options", [ReadOptions(), ReadOptions(errors="replace"), ReadOptions(encoding="cp1252")])
def test_a_utf16_file_joined_to_utf8_ones_is_named_with_its_offset(write_corpus, wide, options):
    """A trial's songs joined with `cat`, one saved as Windows "Unicode": "looks like a binary file", no word of
    where; with --errors replace it trained on 1,377 NUL characters without a word (val loss 4× the training
    loss)."""
    path = write_corpus(SONG.encode() + SONG.encode(wide) + SONG.encode())
    with pytest.raises(CharnnError, match=rf"is not all {options.encoding} text — it holds UTF-16 text from byte "
                                          rf"offset {len(SONG)} \(.*iconv -f utf-16 -t utf-8"):
        load_corpus(path, options)


def test_a_bad_byte_before_a_utf16_part_is_named_and_the_part_too(write_corpus):
    """The trial's joined songs: a Windows-1252 song first, the UTF-16 one later."""
    ansi = ("Café niño — “quoted”\n" + SONG).encode("cp1252")
    with pytest.raises(CharnnError, match=r"bad byte 0xe9 at byte offset 3 — .*; it holds UTF-16 text from byte "
                                          rf"offset {len(ansi)} "):
        load_corpus(write_corpus(ansi + SONG.encode("utf-16")))


def test_zero_bytes_that_decode_are_refused_as_binary_unless_stray(write_corpus):
    """A trial's `.DS_Store` (NULs, valid UTF-8) trained as text, vocab 8. A stray NUL in a long text (a scraped
    corpus) stays text, as it was: a run trained on it must still resume."""
    with pytest.raises(CharnnError, match=r"looks like a binary file, not text \(zero bytes from byte offset 4\)"):
        load_corpus(write_corpus(b"Bud1\x00\x00\x10\x00\x00\x00\x08\x00"))
    with pytest.raises(CharnnError, match="looks like a binary file"):
        load_corpus(write_corpus(b"text\x00\x00\x00\x00more text\n" * 50), ReadOptions(encoding="latin-1"))
    assert read_all(write_corpus((SONG * 20 + "\x00" + SONG * 20).encode())).count("\x00") == 1


def test_a_binary_whose_last_bytes_look_like_utf16_is_a_binary(write_corpus):
    """A student's 5,000 bytes of /bin/ls were told they held a UTF-16 part from byte 4980: its string table ended in
    one-letter names, `a\x00b\x00…`, after a header and tables full of zero bytes no UTF-16 holds."""
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x03\x00>\x00\x01\x00\x00\x00\xd0\x00" + b"\x00" * 40
    names = b"\x00".join(b"name%d_of_a_symbol" % n for n in range(200)) + b"\x00"
    tail = b"".join(bytes([letter, 0]) for letter in b"abcdefghij")
    with pytest.raises(CharnnError, match=r"looks like a binary file, not text"):
        load_corpus(write_corpus(header + names + tail))
    # A part whose first window is not yet UTF-16's pattern (a CJK title: zeros only at its spaces) stays a part,
    # and so does one after more than a few stray NULs (a review of the first rule, a count of zeros before it).
    lyrics = "Spring rain on the roof\n" * 24
    cjk = ("春の風 夜の雨 君の声 遠い空 " * 10).encode("utf-16-le")
    with pytest.raises(CharnnError, match=r"UTF-16 text from byte offset \d+ "):
        load_corpus(write_corpus(lyrics.encode() + b"\xff\xfe" + cjk + SONG.encode("utf-16-le") + lyrics.encode()))
    stray = "".join(line + "\x00" for line in lyrics.splitlines(keepends=True)).encode()  # 24 NULs, one a line
    with pytest.raises(CharnnError, match=r"holds UTF-16 text from byte offset \d+ "):  # (its last NUL's line: 573)
        load_corpus(write_corpus(stray + SONG.encode("utf-16") + lyrics.encode()))


def test_utf16_parts_are_found_whatever_they_begin_with(write_corpus):
    """A review: a part whose first characters have no zero byte (`“Hi”`) or in big-endian order was found a few
    bytes late, and its byte-order mark called a stray byte, with Windows-1252 advice."""
    for part in ["“Hi” there\n" + SONG, "Привет\n" + SONG]:
        for wide in ("utf-16", "utf-16-be", "utf-16-le"):
            encoded = part.encode(wide)
            path = write_corpus(SONG.encode() + encoded + SONG.encode())
            with pytest.raises(CharnnError, match=r"UTF-16 text from byte offset (\d+) ") as info:
                load_corpus(path)
            found = int(re.search(r"byte offset (\d+) ", str(info.value)).group(1))
            # From its mark, exactly; without one, from its first zero byte: a character or two late at most.
            late = 0 if wide == "utf-16" else encoded.find(b"\x00")
            assert len(SONG) <= found <= len(SONG) + late, (part, wide, found)
            assert "cp1252" not in str(info.value) and "bad byte" not in str(info.value), str(info.value)


@pytest.mark.parametrize("before", [1022, 1023, 1024, 1010, 1030])
def test_a_utf16_part_at_a_pieces_edge_is_found(write_corpus, monkeypatch, before):
    """A review: with its mark in a piece's last bytes, or starting in its last 16, a part was a stray byte or a
    binary."""
    monkeypatch.setattr(reading, "CHUNK_BYTES", 1024)
    text = ("x" * 63 + "\n") * 20
    path = write_corpus(text[:before].encode() + SONG.encode("utf-16") + SONG.encode())
    with pytest.raises(CharnnError, match=rf"holds UTF-16 text from byte offset {before} "):
        load_corpus(path)


def test_a_whole_utf16_file_is_told_its_encoding_whatever_it_is_read_as(write_corpus):
    """A review: read as latin-1 it was "joined to others"; without a mark and with a first character that has no
    zero byte (`——`), it was no longer told to be UTF-16-LE; read as UTF-16, a U+0000 in it was "not all utf-16"."""
    text = "——" + SONG
    with pytest.raises(CharnnError, match=r"looks like UTF-16 text, not latin-1 — use --encoding utf-16$"):
        load_corpus(write_corpus(text.encode("utf-16")), ReadOptions(encoding="latin-1"))
    with pytest.raises(CharnnError, match=r"looks like UTF-16 text, not utf-8 — use --encoding utf-16-le$"):
        load_corpus(write_corpus(text.encode("utf-16-le")))
    assert read_all(write_corpus((SONG + "\x00" + SONG).encode("utf-16")), ReadOptions(encoding="utf-16")).count(
        "\x00") == 1


def test_a_byte_order_mark_inside_a_joined_file_is_dropped(write_corpus):
    """A trial's `cat` of songs, one saved with a BOM: U+FEFF was in the vocabulary, for the model to write."""
    path = write_corpus(SONG.encode() + b"\xef\xbb\xbf" + SONG.encode())
    assert read_all(path) == SONG + SONG and "\ufeff" not in load_corpus(path).vocab.chars


def test_a_small_part_in_another_encoding_after_utf8_text_is_named_as_a_part(write_corpus):
    """A trial's code base, joined with one latin-1 file of a few accented comments after UTF-8 ones: told
    `--encoding cp1252 (Windows) or latin-1`, which then read the UTF-8 around it wrong. Too few bytes for the
    detector to name their encoding: it says a part is not UTF-8."""
    utf8 = "# café\n" + "x = 1\n" * 200  # code: mostly ASCII
    legacy = "# -*- coding: latin-1 -*-\n# résumé, déjà\ny = 2\n".encode("latin-1")
    with pytest.raises(CharnnError, match=r"it reads as UTF-8 up to there: a part in another encoding \(a file joined "
                                          r"in\?\) — convert that part to UTF-8, or --errors replace"):
        load_corpus(write_corpus(utf8.encode() + legacy + utf8.encode()))


@pytest.mark.parametrize("options", [ReadOptions(), ReadOptions(errors="replace"), ReadOptions(encoding="latin-1")])
@pytest.mark.parametrize("wide", ["utf-16", "utf-16-le"])
def test_a_short_utf16_part_and_one_after_a_stray_nul_are_found(write_corpus, options, wide):
    """A review: four lines of UTF-16 in 268 KB of UTF-8 trained as text with 120 NULs (too short for a test over
    4 KiB, too few NULs for a binary), and a stray NUL before a UTF-16 part hid it."""
    lines = "Hold on\nHold on to me\nWhoa-oh\nCarry me home\n"
    before = ("x = 1\n" * 44_000).encode()
    with pytest.raises(CharnnError, match=rf"holds UTF-16 text from byte offset {len(before)} "):
        load_corpus(write_corpus(before + lines.encode(wide) + SONG.encode()), options)
    stray = before[:1000] + b"\x00" + before[1000:]
    with pytest.raises(CharnnError, match=rf"holds UTF-16 text from byte offset {len(stray)} "):
        load_corpus(write_corpus(stray + (lines * 20).encode(wide) + SONG.encode()), options)


def test_a_line_of_utf8_before_a_utf16_file_makes_it_a_part(write_corpus):
    """A review: `Songs — 2024\\n\\n` and a UTF-16 song were told `use --encoding utf-16`, which cannot read the
    title (`does not start with BOM`)."""
    title = "Songs — 2024\n\n".encode()
    with pytest.raises(CharnnError, match=rf"it holds UTF-16 text from byte offset {len(title)} "):
        load_corpus(write_corpus(title + SONG.encode("utf-16")))
