"""Client commands run in-process (click's runner) against a real ``appliance serve``
from the e2e harness; each test gets its own ``$APPLIANCE_PATH``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner, Result

from appliance.cli.main import cli
from tests.e2e.harness import CA, Server, init_ca, running_server


@dataclass
class Client:
    """A client machine: its ``$APPLIANCE_PATH`` and a way to run ``appliance``."""

    path: Path

    def run(self, *args: str | Path, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, [str(a) for a in args], input=input,
                                  env={"APPLIANCE_PATH": str(self.path)})

    def ok(self, *args: str | Path) -> Result:
        """Run a command that must succeed."""
        result = self.run(*args)
        assert result.exit_code == 0, f"appliance {' '.join(map(str, args))}: {result.output}"
        return result

    def fails(self, *args: str | Path) -> str:
        """Run a command that must fail cleanly (exit status 1, "error: ..."); its stderr."""
        result = self.run(*args)
        assert result.exit_code == 1 and result.stderr.startswith("error: "), result.output
        return result.stderr

    @property
    def root(self) -> Path:
        return self.path / "certs" / "root_ca.crt"


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(tmp_path / "client")


def bootstrap(client: Client, ca: CA) -> Client:
    client.ok("ca", "bootstrap", "--ca-url", ca.url, "--fingerprint", ca.fingerprint)
    return client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One CA server per test module (softkms, SQLite, two workers)."""
    with running_server(init_ca(tmp_path_factory.mktemp("cli-ca"))) as running:
        yield running


@pytest.fixture
def bootstrapped(client: Client, server: Server) -> Client:
    """A client that trusts ``server``'s root (``ca bootstrap``)."""
    return bootstrap(client, server.ca)
