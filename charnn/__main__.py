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


def main() -> None:
    stdout_was = file_of(1)
    try:
        from charnn.cli import app

        app(prog_name="charnn")
    except SystemExit as done:
        # Rich ends a program whose stdout's reader left with exit 1, stdout turned to /dev/null (Typer, as Click,
        # likewise, with stdout wrapped): `charnn info | head -2` and `charnn --help | head` failed under `set -o
        # pipefail` (a new-user trial). A reader that had enough is no error, as for `charnn sample | head`.
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            turned_null = stdout_was != file_of(null) and file_of(1) == file_of(null)
        finally:
            os.close(null)
        if done.code == 1 and (turned_null or type(sys.stdout).__name__ == "PacifyFlushWrapper"):
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
