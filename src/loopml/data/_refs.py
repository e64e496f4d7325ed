"""Dataset names and references: ``sensors``, ``sensors@latest``, ``sensors:3``, ``sensors@prod``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopml.errors import InvalidArgumentError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LATEST = "latest"


def check_name(name: object, what: str = "dataset name") -> str:
    """Names become parts of references and file names: no slashes, spaces, ``..`` or ``:@``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InvalidArgumentError(
            f"{what.capitalize()} {name!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no slashes, spaces or '..')."
        )
    return name


@dataclass(frozen=True)
class DatasetRef:
    name: str
    version: int | None = None  # a version number, or
    tag: str = LATEST  # a tag (``latest`` is the newest version that passed its checks)

    def __str__(self) -> str:
        return f"{self.name}:{self.version}" if self.version is not None else f"{self.name}@{self.tag}"


def parse_ref(ref: str) -> DatasetRef:
    if not isinstance(ref, str):
        raise InvalidArgumentError(f"A dataset reference is a string such as 'sensors:3', not {ref!r}.")
    if "@" in ref:
        name, _, tag = ref.partition("@")
        return DatasetRef(check_name(name), tag=check_name(tag, "tag"))
    if ":" in ref:
        name, _, number = ref.partition(":")
        if not number.isdigit() or int(number) < 1:
            raise InvalidArgumentError(
                f"In {ref!r}, the version after ':' must be a number from 1, as in 'sensors:3'."
            )
        return DatasetRef(check_name(name), version=int(number))
    return DatasetRef(check_name(ref))


def ref(reference: str) -> DatasetRef:
    """A dataset reference for a pipeline step's argument: resolved to one version when the run starts.

    ``lm.data.ref("sensors@latest")`` names the newest version that passed its checks at the time the run
    starts; the step receives that version's data as a DataFrame, and the run records the version.
    """
    return parse_ref(reference)
