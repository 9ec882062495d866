"""The error a user can fix, and how entry points report it."""

import functools
import sys


class UserError(Exception):
    """An error the user can fix; entry points print its message as one line and exit 1."""


def exit_cleanly_on_user_error(task):
    """Wrap a Hydra task: a UserError becomes one clear line on stderr and exit code 1.

    It must wrap the task itself, because Hydra turns exceptions escaping the task into a
    traceback dump.
    """

    @functools.wraps(task)
    def wrapped(*args, **kwargs):
        try:
            return task(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(1)

    return wrapped
