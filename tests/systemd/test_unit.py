"""systemd/appliance.service: `systemd-analyze verify` accepts it without a single
warning, and it keeps the hardening of step-ca's production unit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "appliance.service"
INSTALLED = "/opt/appliance/.venv/bin/appliance"


def _analyze(unit_text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` on the unit, with ExecStart pointing at this checkout's
    command (verify insists that the executable exists)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (scripts/install.sh --test installs systemd)")
    appliance = Path(sys.executable).with_name("appliance")
    unit = folder / "appliance.service"
    unit.write_text(unit_text.replace(INSTALLED, str(appliance)))
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)


def _directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            found.setdefault(name, []).append(value)
    return found


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    result = _analyze(UNIT.read_text(), tmp_path)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def test_systemd_analyze_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above would see a mistake: a misspelt directive is reported."""
    broken = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict")
    result = _analyze(broken, tmp_path)
    assert "Unknown key" in result.stdout + result.stderr


def test_unit_is_hardened_like_step_ca() -> None:
    d = _directives()
    assert d["User"] == ["appliance"] and d["Group"] == ["appliance"]
    assert d["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert d["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    for name, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "true"),
                        ("ProtectHome", "true"), ("SystemCallFilter", "@system-service"),
                        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6")]:
        assert d[name] == [value], name
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]  # READY=1 from the supervisor
    exec_start = d["ExecStart"][0]
    assert exec_start.startswith(f"{INSTALLED} serve ")
    assert "--password-file ${CREDENTIALS_DIRECTORY}/password" in exec_start
    assert d["LoadCredential"] == ["password:/etc/appliance/password"]
