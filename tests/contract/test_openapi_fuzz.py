"""The OpenAPI contract, confirmed by a fuzzer: schemathesis (pinned in the dev extra) runs
every operation of a real `sentiflow run` with an admin key, in all four phases (examples,
coverage, fuzzing, stateful) and with positive and negative data, under a fixed seed, and
finds no server error, no undocumented status and no response off its schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from tests.browser.conftest import SRC, start_server

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
SEED = 20261206
# Cases per operation and phase: sized for about two minutes on a two-core CI machine.
EXAMPLES = 25
HOOKS = "tests.contract.fuzz_hooks"
ROOT = Path(__file__).resolve().parents[2]


def findings(report: Path) -> list[str]:
    """One line per distinct failed check in schemathesis's NDJSON report."""
    seen: dict[tuple[str, str, str], None] = {}
    for line in report.read_text().splitlines():
        event = orjson.loads(line)
        recorder = event.get("ScenarioFinished", {}).get("recorder") or {}
        cases = recorder.get("cases", {})
        for case_id, checks in recorder.get("checks", {}).items():
            for check in checks:
                info = check.get("failure_info")
                if not info:
                    continue
                case = cases.get(case_id, {}).get("value", {})
                operation = f"{case.get('method')} {case.get('path')}"
                message = " ".join(str(info.get("failure", {}).get("message", "")).split())
                seen[(operation, check.get("name", ""), message[:240])] = None
    return [" | ".join(key) for key in seen]


@pytest.mark.timeout(600)
def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    if not st.exists():
        pytest.fail("schemathesis is missing: pip install -e '.[dev]'", pytrace=False)
    servers = start_server(
        tmp_path,
        SENTIFLOW_AUTH="required",
        # No source is polled and no search runs: fuzzed source specs must not reach out.
        SENTIFLOW_SCHEDULER="false",
        SENTIFLOW_RATE_LIMIT_READ="100000/s",
        SENTIFLOW_RATE_LIMIT_RANK="100000/s",
        SENTIFLOW_RATE_LIMIT_ADMIN="100000/s",
    )
    server = next(servers)
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT)]), **server.env}
        made = subprocess.run(
            [sys.executable, "-m", "sentiflow", "keys", "create", "--scope", "admin",
             "--name", "fuzz-admin", "--rate-limit", "100000/s"],
            capture_output=True, text=True, env=env, timeout=120, check=True,
        )  # fmt: skip
        key = made.stdout.strip()
        env |= {
            "SCHEMATHESIS_HOOKS": HOOKS,
            "SENTIFLOW_FUZZ_KEY_ID": key.split("_")[1],
            "SENTIFLOW_FUZZ_KEY_NAME": "fuzz-admin",
        }
        report = tmp_path / "report"
        run = subprocess.run(
            [
                str(st), "run", f"{server.url}/openapi.json",
                "--checks", CHECKS,
                "--phases", "examples,coverage,fuzzing,stateful",
                "--mode", "all",
                "--seed", str(SEED),
                "--max-examples", str(EXAMPLES),
                "--workers", "2",
                "--request-timeout", "30",
                "--header", f"Authorization: Bearer {key}",
                "--suppress-health-check", "all",
                "--report", "ndjson", "--report-dir", str(report),
            ],
            capture_output=True, text=True, env=env, timeout=560, check=False, cwd=tmp_path,
        )  # fmt: skip
        print(run.stdout[-3000:])
        found = findings(next(report.glob("*.ndjson")))
        assert run.returncode == 0 and not found, (
            "schemathesis found problems:\n" + "\n".join(found) + "\n" + run.stdout[-3000:]
        )
        assert "generated" in run.stdout  # it ran cases, not just loaded the schema
        with httpx.Client(base_url=server.url, timeout=10) as client:
            alive = client.get("/api/keys", headers={"Authorization": f"Bearer {key}"})
        assert alive.status_code == 200, "the fuzzer revoked its own key and went no deeper"
    finally:
        next(servers, None)
