"""The gateway's closed set of error kinds; `status` maps each to HTTP in one place."""

from __future__ import annotations

from enum import Enum


class Kind(Enum):
    INVALID = 400
    UNAUTHORIZED = 401
    TOO_LARGE = 413
    UNAVAILABLE = 503


class GatewayError(Exception):
    def __init__(self, kind: Kind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def status(self) -> int:
        return self.kind.value

    @property
    def retryable(self) -> bool:
        return self.kind is Kind.UNAVAILABLE


def invalid(message: str) -> GatewayError:
    return GatewayError(Kind.INVALID, message)


def unauthorized(message: str) -> GatewayError:
    return GatewayError(Kind.UNAUTHORIZED, message)


def too_large(message: str) -> GatewayError:
    return GatewayError(Kind.TOO_LARGE, message)


def unavailable(message: str) -> GatewayError:
    return GatewayError(Kind.UNAVAILABLE, message)
