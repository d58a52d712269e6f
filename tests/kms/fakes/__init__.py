"""Test doubles for KMS backends: emulators and wire-protocol servers."""
