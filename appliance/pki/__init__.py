"""Small shared PKI helpers: PEM, key checks, clock, durations, DER tables."""
