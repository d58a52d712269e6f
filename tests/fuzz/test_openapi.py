"""schemathesis over the OpenAPI description that the app publishes when
``ApiSettings.openapi`` is on: valid and invalid requests to every operation of
the step-ca API of the real CA, none answered with a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis.errors import Unsatisfiable
from starlette.testclient import TestClient
from schemathesis import GenerationMode

from appliance.api import ApiSettings, create_app
from tests.api.real_ca import RealCA
from tests.fuzz.conftest import SCALES, fuzz_settings, record

EXAMPLES_PER_OPERATION = 15


def test_openapi_is_published_only_when_enabled(real: RealCA) -> None:
    assert real.http.get("/openapi.json").status_code == 200
    hidden = create_app(real.authority, ApiSettings())
    assert TestClient(hidden).get("/openapi.json").status_code == 404


@pytest.mark.parametrize("scale", SCALES)
def test_step_ca_api_from_its_openapi_never_answers_5xx(real: RealCA, scale: int) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", real.http.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {operation.path for operation in operations}
    assert {"/sign", "/revoke", "/1.0/sign", "/root/{sha}", "/provisioners"} <= paths, paths
    server_errors: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @fuzz_settings(EXAMPLES_PER_OPERATION, scale)
            @given(operation.as_strategy(generation_mode=mode))
            def case(case: Any) -> None:
                response = case.call()
                record("OpenAPI", response.status_code)
                if response.status_code >= 500:
                    server_errors.append(f"{operation.method.upper()} {operation.path}: {response.text[:200]}")

            try:
                case()
            except Unsatisfiable:
                # no invalid request exists for an operation without inputs or with only free-form strings
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert server_errors == []
