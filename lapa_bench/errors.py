"""The one kind of error that is the user's to fix (a bad flag, value, file, folder or config).

The CLI prints a :class:`UserError`'s one-line message (it names the problem and the fix) and exits 2; any other
exception is a bug and shows its traceback. Subclasses keep the built-in kind they refine, so code that catches a
``ValueError``, ``KeyError`` or ``FileNotFoundError`` still catches them.
"""


class UserError(ValueError):
    """What was asked for cannot be done as asked; the message says why and how to fix it."""


class UnknownName(UserError, KeyError):
    """A name (policy, method, task) that is not registered; the message lists the known ones."""

    def __str__(self) -> str:  # the message, not KeyError's quoted repr
        return str(self.args[0]) if self.args else ""


class MissingFile(UserError, FileNotFoundError):
    """A file or folder the command needs does not exist."""
