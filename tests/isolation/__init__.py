"""Tenant isolation suite: no org, and no namespace inside an org, reaches another's data."""
