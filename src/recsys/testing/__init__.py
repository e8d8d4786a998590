"""Test and benchmark support shipped with the package (no test framework imported here)."""
