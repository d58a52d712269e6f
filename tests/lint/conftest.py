"""The in-process CA fixture of the authority tests."""

from tests.authority.conftest import make_authority  # noqa: F401
