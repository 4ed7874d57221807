"""The documentation's generated parts: the configuration page is made from `Settings` by the
site's hook, so it must list every variable with what it means, under a heading."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from sentiflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def hook() -> ModuleType:
    path = ROOT / "docs" / "hooks" / "settings_table.py"
    spec = importlib.util.spec_from_file_location("settings_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_has_a_row_with_its_meaning() -> None:
    tables = hook().render()
    rows = {
        m[1]: m[2] for m in re.finditer(r"^\| `(SENTIFLOW_\w+)` \|.*\| ([^|]*) \|$", tables, re.M)
    }
    expected = {f"SENTIFLOW_{name.upper()}" for name in Settings.model_fields}
    assert set(rows) == expected
    blank = sorted(var for var, meaning in rows.items() if not meaning.strip())
    assert not blank, f"settings without a description (Field(description=...)): {blank}"


def test_rows_show_defaults_bounds_and_choices() -> None:
    tables = hook().render()
    assert "| `SENTIFLOW_BATCH_SIZE` | `4000` | integer, 1 to 10000 |" in tables
    assert "| `SENTIFLOW_DATABASE_URL` | unset | text |" in tables
    assert "| `SENTIFLOW_DEVICE` | `auto` | one of `auto`, `cpu`, `cuda` |" in tables
    assert "| `SENTIFLOW_SIGNALS_WINDOWS_S` | `[3600]` | JSON list |" in tables
    assert "| `SENTIFLOW_REDDIT_CLIENT_SECRET` | unset | secret |" in tables
    # A setting no group names still gets a row, under "General".
    assert hook().group_of("a_setting_added_later") == "General"


def test_the_configuration_page_keeps_the_place_the_tables_go() -> None:
    module = hook()
    page = (ROOT / "docs" / module.PAGE).read_text()
    assert module.MARKER in page
