"""The hub's one error type: a status code and a message that names the problem."""

from __future__ import annotations

from typing import Any, ClassVar


class HubError(Exception):
    status: ClassVar[int] = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, **self.details}


class BadRequest(HubError):
    status = 400


class Unauthorized(HubError):
    status = 401


class Forbidden(HubError):
    status = 403


class NotFound(HubError):
    status = 404


class RequestTimeout(HubError):
    status = 408


class Conflict(HubError):
    status = 409


class PayloadTooLarge(HubError):
    status = 413


class UnsupportedMediaType(HubError):
    status = 415


class Unprocessable(HubError):
    status = 422

    @classmethod
    def in_field(cls, field: str, reason: str) -> Unprocessable:
        """Input refused the way a failed validation is: the field and what is wrong with it."""
        return cls(
            f"invalid input: {field}: {reason}", problems=[{"field": field, "reason": reason}]
        )


class TooManyRequests(HubError):
    status = 429


class Gone(HubError):
    status = 410


class Unavailable(HubError):
    """Not possible yet; the message says what is under way, the details how far."""

    status = 503
