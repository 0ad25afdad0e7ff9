"""What tyro rejects, said in one line, and the flags a user may give without a value.

tyro draws a box with the usage around a rejected command line; this command line promises one line ``error: <what
is wrong>`` instead, so tyro's hook for parse errors (not public yet, hence tyro's exact pin) raises
:class:`UsageError` with that line.
"""

from __future__ import annotations

from collections.abc import Sequence

from tyro import _errors as tyro_errors

from durian_core.errors import DurianInputError


class UsageError(DurianInputError):
    """The command line itself is wrong (an unknown flag, a bad choice, a missing option)."""


def _usage_message(event: tyro_errors.ParseErrorEvent) -> str:
    """One line for what tyro rejected (tyro draws a box with the usage around it)."""
    if isinstance(event, tyro_errors.InvalidChoice):
        return (
            f"{event.argument.display_name()}: invalid choice {event.value!r} (choose from {', '.join(event.choices)})"
        )
    if isinstance(event, tyro_errors.InstantiationFailure):
        name = event.argument.display_name() if event.argument is not None else None
        return f"{name}: {event.message}" if name else event.message
    if isinstance(event, tyro_errors.MissingArgs):
        names = [context.arg.display_name() for context in event.missing_arguments]
        return f"missing required option{'s' if len(names) > 1 else ''} {', '.join(names)}"
    if isinstance(event, tyro_errors.MissingSubcommand):
        return f"choose a command: {', '.join(event.subcommand_spec.parser_from_name)}"
    if isinstance(event, tyro_errors.UnrecognizedArgs):
        return f"unrecognized arguments: {' '.join(event.tokens)}"
    if isinstance(event, tyro_errors.BadValue):
        name = event.argument.display_name()
        return f"{name} takes no value" if event.offending_value is not None else f"{name} needs a value"
    return f"the command line cannot be read; see {event.prog} --help"


def raise_usage_error(event: tyro_errors.ParseErrorEvent) -> None:
    raise UsageError(_usage_message(event))


def bare_flags(argv: Sequence[str]) -> list[str]:
    """The value a flag given without one means (tyro's options always take a value): ``train --resume`` the newest
    checkpoint, ``evaluate --masks`` the labelled set in the checkout."""
    words = list(argv)
    bare: dict[str, str] = {}
    if "train" in words:
        bare["--resume"] = "latest"
    if "evaluate" in words and "--masks" in words:
        from durian_core.mask_benchmark import LABELLED_SET

        bare["--masks"] = str(LABELLED_SET)
    # From the end, so an inserted value does not move the words still to be looked at.
    for index in reversed(range(len(words))):
        word = words[index]
        if word in bare and (index + 1 == len(words) or words[index + 1].startswith("-")):
            words[index + 1 : index + 1] = [bare[word]]
    return words
