"""schemathesis hooks for the contract test: every operation runs, but the admin key the
fuzzer calls with is never the one it revokes (by id or by name)."""

from __future__ import annotations

import os
from typing import Any

import schemathesis

OWN = {os.environ.get("SENTIFLOW_FUZZ_KEY_ID", ""), os.environ.get("SENTIFLOW_FUZZ_KEY_NAME", "")}


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    parameters = case.path_parameters or {}
    if case.method.upper() == "DELETE" and parameters.get("key_id") in OWN:
        parameters["key_id"] = "someone-else"
    return case


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    # Stateful links set path parameters after generation: check once more before sending.
    map_case(context, case)
