"""The one exception type the core raises for problems a user can fix.

Its message is a single line that says what was wrong and what to do; the CLI prints it and
exits 1. Anything else that escapes is a bug, and shows as one.
"""


class CharnnError(Exception):
    """A user-fixable problem (bad file, bad checkpoint, bad option value)."""
