"""`python -m charnn` runs the same command as `charnn`."""

from charnn.cli import app

app(prog_name="charnn")
