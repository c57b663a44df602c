"""Helpers the tests use to start real processes and wait on conditions."""
