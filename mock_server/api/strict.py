"""Strict mode: check every events API response against the spec before it leaves.

A mock that drifts from its own contract would make every suite built on it lie, so in
strict mode (on in the kit's tests) a non-conforming response raises instead of going out.
"""

from __future__ import annotations

import json

from flask import Response

from ..spec import Operation, first_error


class ContractViolation(AssertionError):
    """The mock was about to send a response its own spec does not allow."""


def check(operation: Operation, response: Response) -> None:
    """Raise ContractViolation if `response` breaks the spec for `operation`."""
    status = str(response.status_code)
    rule = operation.responses.get(status)
    if rule is None:
        raise ContractViolation(f"{operation.operation_id}: status {status} is not in the spec")
    for header in rule.required_headers:
        if header not in response.headers:
            raise ContractViolation(f"{operation.operation_id} {status}: no {header} header")
    body = response.get_data()
    if rule.content_type is None:
        if body:
            raise ContractViolation(f"{operation.operation_id} {status}: unexpected body")
        return
    if response.mimetype != rule.content_type:
        raise ContractViolation(
            f"{operation.operation_id} {status}: content type {response.mimetype!r}, "
            f"spec says {rule.content_type!r}"
        )
    problem = first_error(rule.validator, json.loads(body))
    if problem:
        raise ContractViolation(f"{operation.operation_id} {status}: {problem}")
