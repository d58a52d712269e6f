"""Offline key ceremonies on an HSM: key, root, intermediate, csr, cross-csr, crl.

One declarative YAML file per ceremony, validated strictly before the HSM is
touched, linted before anything is written, recorded in a hash-chained transcript.
"""

from __future__ import annotations

from appliance.ceremony.load import load_ceremony
from appliance.ceremony.runner import check_ceremony, run_ceremony
from appliance.ceremony.shares import combine_secret, split_secret
from appliance.ceremony.transcript import TranscriptSummary, verify_transcript

__all__ = [
    "TranscriptSummary",
    "check_ceremony",
    "combine_secret",
    "load_ceremony",
    "run_ceremony",
    "split_secret",
    "verify_transcript",
]
