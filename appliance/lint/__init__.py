"""Linting of what the CA signs (pkilint), before it is signed for real."""

from appliance.lint.findings import Finding, Profile, lint_certificate, lint_crl, lint_ocsp_response
from appliance.lint.prelint import Linter, LintFailed, LintMode, throwaway_key, throwaway_responder

__all__ = [
    "Finding", "LintFailed", "LintMode", "Linter", "Profile", "lint_certificate", "lint_crl", "lint_ocsp_response",
    "throwaway_key", "throwaway_responder",
]
