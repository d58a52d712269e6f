"""The ACME tables (created by migration step 3, ``acme_challenges.processing_since``
added by step 4, ``acme_authorizations.attestation`` by step 10, ``acme_orders.profile`` by step 14,
``acme_eab_keys.reference`` and ``policy`` by step 16), on the shared schema metadata."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from appliance.db.schema import NAME, SERIAL, metadata
from appliance.db.types import UTCDateTime

ID = String(64)
STATUS = String(16)

acme_accounts = Table(
    "acme_accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("provisioner", NAME, nullable=False),
    Column("thumbprint", String(128), nullable=False),
    Column("jwk", JSON, nullable=False),
    Column("contact", JSON, nullable=False),
    Column("status", STATUS, nullable=False),
    Column("eab_key_id", NAME, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_acme_accounts_key", "provisioner", "thumbprint", unique=True),
)

acme_eab_keys = Table(
    "acme_eab_keys",
    metadata,
    Column("provisioner", NAME, primary_key=True),
    Column("key_id", NAME, primary_key=True),
    Column("hmac_key", LargeBinary, nullable=False),
    Column("account_id", ID, ForeignKey("acme_accounts.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("bound_at", UTCDateTime, nullable=True),
    Column("reference", String(256), nullable=True),  # the admin API's optional name of a key
    Column("policy", JSON, nullable=True),  # the name policy of the account the key binds (admin API)
)

acme_orders = Table(
    "acme_orders",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("acme_accounts.id"), nullable=False),
    Column("provisioner", NAME, nullable=False),
    Column("status", STATUS, nullable=False),
    Column("expires", UTCDateTime, nullable=False),
    Column("identifiers", JSON, nullable=False),
    Column("not_before", UTCDateTime, nullable=True),
    Column("not_after", UTCDateTime, nullable=True),
    Column("error", JSON, nullable=True),
    Column("certificate_id", ID, nullable=True),
    Column("replaces", String(255), nullable=True),
    Column("profile", NAME, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_acme_orders_account_id", "account_id"),
    Index("ix_acme_orders_expires", "expires"),
)

acme_authorizations = Table(
    "acme_authorizations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("acme_accounts.id"), nullable=False),
    Column("identifier_type", String(8), nullable=False),
    Column("identifier_value", NAME, nullable=False),
    Column("wildcard", Boolean, nullable=False),
    Column("status", STATUS, nullable=False),
    Column("expires", UTCDateTime, nullable=False),
    Column("attestation", JSON, nullable=True),
    Index("ix_acme_authorizations_account", "account_id", "identifier_value"),
    Index("ix_acme_authorizations_expires", "expires"),
)

acme_order_authorizations = Table(
    "acme_order_authorizations",
    metadata,
    Column("order_id", ID, ForeignKey("acme_orders.id", ondelete="CASCADE"), primary_key=True),
    Column("authorization_id", ID, ForeignKey("acme_authorizations.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False),
    Index("ix_acme_order_authorizations_authz", "authorization_id"),
)

acme_challenges = Table(
    "acme_challenges",
    metadata,
    Column("id", ID, primary_key=True),
    Column("authorization_id", ID, ForeignKey("acme_authorizations.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("token", String(128), nullable=False),
    Column("status", STATUS, nullable=False),
    Column("validated_at", UTCDateTime, nullable=True),
    Column("error", JSON, nullable=True),
    Column("processing_since", UTCDateTime, nullable=True),
    Index("ix_acme_challenges_authorization_id", "authorization_id"),
)

acme_nonces = Table(
    "acme_nonces",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_acme_nonces_expires_at", "expires_at"),
)

acme_certificates = Table(
    "acme_certificates",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("acme_accounts.id"), nullable=False),
    Column("order_id", ID, nullable=False),
    Column("serial", SERIAL, nullable=False),
    Column("cert_id", String(255), nullable=False),
    Column("chain_pem", Text, nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("replaced_by", ID, nullable=True),
    Index("uq_acme_certificates_serial", "serial", unique=True),
    Index("uq_acme_certificates_cert_id", "cert_id", unique=True),
)

TABLES = (acme_accounts, acme_eab_keys, acme_orders, acme_authorizations, acme_order_authorizations,
          acme_challenges, acme_nonces, acme_certificates)
