"""The CA's Prometheus metrics: one module-level definition per metric, recorded
by small calls where things happen (API, authority, KMS, database, webhooks, ACME).

Metrics are process-wide by nature (``prometheus_client``'s registry). Under
``appliance serve`` each worker writes them to files in the supervisor's private
``PROMETHEUS_MULTIPROC_DIR`` and the supervisor serves their sum on
``metricsAddress`` (``appliance.server.metrics``); elsewhere (tests, the CLI)
they live in memory. This layer imports nothing of the appliance, so that every
layer may record.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from prometheus_client import Counter, Gauge, Histogram

#: Latency buckets (seconds) from a cached OCSP answer to a cloud KMS round trip.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

http_requests = Counter(
    "appliance_http_requests", "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"])
http_request_duration = Histogram(
    "appliance_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
    ["route"], buckets=LATENCY_BUCKETS)

issuance = Counter(
    "appliance_issuance", "Certificates asked for, by provisioner, type (sign, renew, rekey, acme, server) "
    "and outcome (issued, refused, unavailable, error).", ["provisioner", "type", "outcome"])
issuance_duration = Histogram(
    "appliance_issuance_duration_seconds", "Time to authorise, build, lint, sign and record a certificate, by type.",
    ["type"], buckets=LATENCY_BUCKETS)
revocations = Counter("appliance_revocations", "Certificates revoked, by provisioner.", ["provisioner"])
token_replays = Counter(
    "appliance_token_replays_refused", "One-time tokens refused because they were used already, by provisioner.",
    ["provisioner"])

kms_operations = Counter(
    "appliance_kms_operations", "Private-key operations on a KMS device, by backend, operation and outcome "
    "(ok, error).", ["backend", "operation", "outcome"])
kms_duration = Histogram(
    "appliance_kms_operation_duration_seconds", "Time of a private-key operation on a KMS device.",
    ["backend", "operation"], buckets=LATENCY_BUCKETS)

db_queries = Counter("appliance_db_queries", "SQL statements run, by engine and outcome (ok, error).",
                     ["engine", "outcome"])
db_query_duration = Histogram("appliance_db_query_duration_seconds", "Time of one SQL statement, by engine.",
                              ["engine"], buckets=LATENCY_BUCKETS)

webhook_calls = Counter(
    "appliance_webhook_calls", "Webhook calls, by kind (ENRICHING, AUTHORIZING, ...) and outcome "
    "(ok, denied, unavailable).", ["kind", "outcome"])
webhook_duration = Histogram("appliance_webhook_call_duration_seconds", "Time of one webhook call, by kind.",
                             ["kind"], buckets=LATENCY_BUCKETS)

acme_orders = Counter(
    "appliance_acme_orders", "ACME order events, by provisioner and outcome (created, valid, invalid).",
    ["provisioner", "outcome"])
acme_validations = Counter(
    "appliance_acme_validations", "ACME challenge validations, by challenge type and outcome (valid, invalid).",
    ["challenge_type", "outcome"])

ocsp_responses_signed = Counter("appliance_ocsp_responses_signed", "OCSP responses signed (not from the cache).")
ocsp_last_signed = Gauge(
    "appliance_ocsp_last_signed_timestamp_seconds", "When the newest OCSP response was signed (Unix time).",
    multiprocess_mode="max")
crl_generated = Counter("appliance_crl_generated", "CRLs signed.")

audit_records = Counter("appliance_audit_records", "Audit records appended, by outcome (ok, lost: the database "
                        "refused the append after the operation took place).", ["outcome"])
audit_checkpoints = Counter("appliance_audit_checkpoints", "Audit checkpoints signed.")


@contextmanager
def timed(histogram: Histogram, *labels: str) -> Iterator[None]:
    """Observe the duration of the ``with`` block in ``histogram`` (labelled ``labels``), even if it raises."""
    began = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(*labels).observe(time.perf_counter() - began)
