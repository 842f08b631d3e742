"""`python -m charnn` runs the same command as `charnn` (whose entry point is `main`)."""

import gc
import sys


def main() -> None:
    try:
        from charnn.cli import app

        app(prog_name="charnn")
    except KeyboardInterrupt:  # Ctrl-C while Typer and Rich load, or Typer reads the commands (the first ~0.15 s)
        sys.stderr.write("\ninterrupted\n" if sys.stderr.isatty() else "interrupted\n")  # after the ^C
        sys.exit(130)
    finally:
        # The interpreter's last garbage collection walks every object torch made: ~0.2 s of a ~0.35 s exit, after the
        # text has ended and before the shell's prompt comes back. Nothing left then needs it (files are closed).
        gc.freeze()


if __name__ == "__main__":
    main()
