"""``logger.level`` and ``logger.format`` act on every line the server writes:
ours, uvicorn's and the access log."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from appliance.api import request_id
from appliance.config.logger import LoggerOptions
from appliance.server.logs import ACCESS_LOGGER, configure_logging
from tests.e2e.harness import APPLIANCE, csr_pem, init_ca, new_key, start_server, token

START_TIMEOUT = 60.0


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    access = logging.getLogger(ACCESS_LOGGER)
    saved_access = access.handlers[:], access.propagate
    yield
    root.handlers[:], root.level = saved
    access.handlers[:], access.propagate = saved_access


def _write_lines() -> None:
    logging.getLogger("appliance.server").info("serving")
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger(ACCESS_LOGGER).info("path=/health status=200", extra={"fields": {"path": "/health",
                                                                                    "status": 200}})
    logging.getLogger("appliance.server").error("reload failed")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("appliance.api").exception("unexpected error")


def test_level_error_suppresses_info_lines(restore_logging: None, capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggerOptions(logging.ERROR, "text"))
    _write_lines()
    lines = capfd.readouterr().err.splitlines()
    assert not any("serving" in line or "Started" in line or "/health" in line for line in lines)
    assert any("ERROR appliance.server: reload failed" in line for line in lines)


def test_json_format_writes_one_object_per_line(restore_logging: None, capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggerOptions(logging.DEBUG, "json"))
    _write_lines()
    logging.getLogger("appliance.server").debug("debug line")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert [line.get("msg") or line.get("path") for line in lines] == [
        "serving", "Started server process", "/health", "reload failed", "unexpected error", "debug line"]
    assert lines[1]["logger"] == "uvicorn.error" and lines[1]["level"] == "info"
    assert "ValueError: boom" in lines[4]["error"]
    assert all(line["time"] and line["level"] for line in lines)  # the access line too


def test_lines_written_during_a_request_carry_its_id(restore_logging: None,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(LoggerOptions(logging.INFO, "text"))
    bound = request_id.current.set("req-42")
    try:
        logging.getLogger("appliance.authority").info("issued")
    finally:
        request_id.current.reset(bound)
    logging.getLogger("appliance.server").info("idle")
    lines = capfd.readouterr().err.splitlines()
    assert lines[0].endswith("INFO appliance.authority: issued request_id=req-42")
    assert lines[1].endswith("INFO appliance.server: idle")


@pytest.mark.slow
def test_served_json_lines(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    data = ca.data()
    data["logger"] = {"format": "json", "level": "debug"}
    ca.write(data)
    server = start_server(ca, workers=1)
    try:
        with ca.client() as client:
            response = client.post("/sign", json={"csr": csr_pem("json.example", new_key()),
                                                  "ott": token(ca, "json.example")})
        assert response.status_code == 201
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert any(line.get("path") == "/sign" and line["status"] == 201 for line in lines)
    assert any(str(line.get("msg", "")).startswith("serving https://") for line in lines)
    assert all(line["time"] and line["level"] for line in lines)


@pytest.mark.slow
def test_served_level_error_writes_no_info_line(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    data = ca.data()
    data["logger"] = {"format": "text", "level": "error"}
    ca.write(data)
    log_file = tmp_path / "serve.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen([str(APPLIANCE), "serve", str(ca.ca_json), "--password-file",
                                    str(ca.password_file), "--workers", "1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log_file.read_text()
            try:
                with ca.client() as client:
                    if client.get("/health").status_code == 200:
                        break
            except httpx.TransportError:
                time.sleep(0.1)
        with ca.client() as client:
            assert client.post("/sign", json={"csr": csr_pem("quiet.example", new_key()),
                                              "ott": token(ca, "quiet.example")}).status_code == 201
    finally:
        process.terminate()
        process.wait(60)
    text = log_file.read_text()
    assert " INFO " not in text and "serving https://" not in text and "path=/sign" not in text
