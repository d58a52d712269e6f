"""An HSM- and KMS-centric certificate authority, step-ca compatible."""

__version__ = "0.1.0"
