"""Where the password for an encrypted private key comes from.

In order: the ``password`` argument when it is ``bytes`` or ``str``; its return value when it
is a callable (called only when a password is actually needed, so an unencrypted key never
triggers it); otherwise the ``COSIGN_PASSWORD`` environment variable when it is set, even to
the empty string (cosign treats ``COSIGN_PASSWORD=""`` as the empty password). Nothing else:
imagesig never prompts on a terminal and never reads standard input, unlike the cosign CLI.
``str`` passwords are encoded as UTF-8; the environment variable is taken as its raw bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeAlias

from imagesig.errors import PasswordRequiredError, SignerError
from imagesig.signers._pem import describe_source

__all__ = ["PASSWORD_ENV_VAR", "PasswordSource", "resolve_password"]

#: The environment variable cosign reads its key password from.
PASSWORD_ENV_VAR = "COSIGN_PASSWORD"  # noqa: S105 - a variable name, not a password

#: A password, a callback returning one, or ``None`` for "use ``COSIGN_PASSWORD``".
PasswordSource: TypeAlias = bytes | str | Callable[[], bytes | str] | None


def resolve_password(
    password: PasswordSource, *, source: str | None = None, for_writing: bool = False
) -> bytes:
    """Return the password for an encrypted key, following the order in the module notes.

    Args:
        password: ``bytes``/``str``, a zero-argument callable returning either, or ``None``.
        source: the key file name, for messages.
        for_writing: the key is about to be encrypted (changes only the error message).

    Returns:
        The password bytes (possibly empty).

    Raises:
        PasswordRequiredError: ``password`` is ``None`` and ``COSIGN_PASSWORD`` is not set.
        SignerError: the callback returned something other than ``bytes`` or ``str``.
    """
    if callable(password):
        password = password()
        if not isinstance(password, (bytes, str)):
            raise SignerError(
                f"the password callback for {describe_source(source)} returned "
                f"{type(password).__name__}, not bytes or str",
                key=source,
            )
    if isinstance(password, bytes):
        return password
    if isinstance(password, str):
        return password.encode("utf-8")
    if os.supports_bytes_environ:
        from_env = os.environb.get(PASSWORD_ENV_VAR.encode("ascii"))
    else:  # pragma: no cover - Windows keeps the environment as text
        text = os.environ.get(PASSWORD_ENV_VAR)
        from_env = None if text is None else text.encode("utf-8")
    if from_env is not None:
        return from_env
    raise PasswordRequiredError(
        f"no password was given to encrypt {describe_source(source)}"
        if for_writing
        else f"{describe_source(source)} is encrypted and no password was given",
        hint=f"pass password=... (a value or a callback) or set {PASSWORD_ENV_VAR}; "
        "imagesig never prompts",
        key=source,
    )
