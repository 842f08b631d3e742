"""`python -m charnn` runs the same command as `charnn` (whose entry point is `main`)."""

import gc
import os
import sys


def file_of(fd: int) -> tuple[int, int] | None:
    """Which file `fd` is (device, inode), or None."""
    try:
        found = os.fstat(fd)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def reader_left(stdout_was: tuple[int, int] | None) -> bool:
    """Whether an exit 1 was only that stdout's reader left, for the commands that print a result (`info`, `eval`,
    help). Rich ends a program so with stdout turned to /dev/null, Typer (as Click) with stdout wrapped: `charnn info |
    head -2` and `charnn --help | head` failed under `set -o pipefail` (a new-user trial), where `charnn sample | head`
    ends 0. Not an error said (`fail`, whose message may meet the closed pipe), nor training (a run cut short), nor
    where stdout was closed from the start (a review: /dev/null would take its descriptor)."""
    from charnn.cli import command

    words = sys.argv[1:]
    printing = not words or words[0] in ("info", "eval") or "--help" in words or "-h" in words
    if command.FAILED or not printing or stdout_was is None:
        return False
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":
        return True
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return False
    try:
        return stdout_was != file_of(null) and file_of(1) == file_of(null)
    finally:
        os.close(null)


def main() -> None:
    stdout_was = file_of(1)
    try:
        from charnn.cli import app

        app(prog_name="charnn")
    except SystemExit as done:
        if done.code == 1 and reader_left(stdout_was):
            raise SystemExit(0) from None
        raise
    except KeyboardInterrupt:  # Ctrl-C while Typer and Rich load, or Typer reads the commands (the first ~0.15 s)
        sys.stderr.write("\ninterrupted\n" if sys.stderr.isatty() else "interrupted\n")  # after the ^C
        sys.exit(130)
    finally:
        # The interpreter's last garbage collection walks every object torch made: ~0.2 s of a ~0.35 s exit, after the
        # text has ended and before the shell's prompt comes back. Nothing left then needs it (files are closed).
        gc.freeze()


if __name__ == "__main__":
    main()
