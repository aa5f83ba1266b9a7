"""Request parameters from the query string and the body, however the client sent them.

gomaasapi sends urlencoded forms; python-libmaas sends every POST/PUT as multipart whose
parts are base64 transfer-encoded, which Werkzeug does not decode, so multipart is parsed
here with the standard library's email parser.
"""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qsl

from flask import Request

from .errors import BadRequest

MAX_BODY = 64 * 1024 * 1024


class Params:
    """Each key with its list of values (keys repeat for lists), plus uploaded files."""

    def __init__(
        self, items: Iterable[tuple[str, str]] = (), files: dict[str, bytes] | None = None
    ) -> None:
        self.data: dict[str, list[str]] = {}
        for key, value in items:
            self.data.setdefault(key, []).append(value)
        self.files = files or {}

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def get(self, key: str, default: str | None = None) -> str | None:
        values = self.data.get(key)
        return values[-1] if values else default

    def getlist(self, key: str) -> list[str]:
        return list(self.data.get(key, []))

    def required(self, key: str) -> str:
        value = self.get(key)
        if value is None or value == "":
            raise BadRequest(f"{key}: This field is required.")
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.get(key)
        if value is None or value == "":
            return default
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise BadRequest(f"{key}: '{value}' is not a boolean (use true or false).")

    def integer(
        self, key: str, default: int | None = None, minimum: int | None = None
    ) -> int | None:
        value = self.get(key)
        if value is None or value == "":
            return default
        try:
            number = int(float(value))
        except (ValueError, OverflowError):
            raise BadRequest(f"{key}: '{value}' is not a whole number.") from None
        if minimum is not None and number < minimum:
            raise BadRequest(f"{key}: must be at least {minimum}.")
        return number


def path_id(value: str, what: str) -> int:
    """A numeric id from the URL; anything else names nothing there (404, as MAAS)."""
    from .errors import NotFound

    try:
        return int(value)
    except ValueError:
        raise NotFound(f"No {what} matches the given query.") from None


def parse_request(request: Request) -> tuple[str | None, Params]:
    """The operation (`op` from the query string, else a form field; empty means CRUD) and
    the parameters of a request."""
    items = list(request.args.items(multi=True))
    files: dict[str, bytes] = {}
    if request.method in ("POST", "PUT"):
        length = request.content_length or 0
        if length > MAX_BODY:
            raise BadRequest(f"Request body too large (over {MAX_BODY} bytes).")
        body = request.get_data(cache=True)
        if request.mimetype == "multipart/form-data":
            form_items, files = _parse_multipart(request.headers.get("Content-Type", ""), body)
            items += form_items
        elif body and request.mimetype in ("application/x-www-form-urlencoded", ""):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("The form body is not valid UTF-8.") from None
            items += parse_qsl(text, keep_blank_values=True)
    ops = [value for key, value in items if key == "op"]
    op = request.args.get("op", ops[-1] if ops else None)
    return op or None, Params([(k, v) for k, v in items if k != "op"], files)


def _parse_multipart(
    content_type: str, body: bytes
) -> tuple[list[tuple[str, str]], dict[str, bytes]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    try:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    except Exception:  # the parser's errors are many and undocumented
        raise BadRequest("The multipart body could not be parsed.") from None
    if not message.is_multipart():
        raise BadRequest("The multipart body has no parts (is the boundary right?).")
    items: list[tuple[str, str]] = []
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_param("filename", header="content-disposition") is not None:
            files[str(name)] = payload
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            items.append((str(name), payload.decode(charset)))
        except (UnicodeDecodeError, LookupError):
            # Binary data sent as a field (python-libmaas sends bytes this way).
            files[str(name)] = payload
            items.append((str(name), payload.decode("latin-1")))
    return items, files
