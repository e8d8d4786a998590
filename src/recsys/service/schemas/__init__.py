"""The wire layer: request and response bodies (separate from the tables), one module per area
of the API. Limits are the documented ones (docs/api_reference.md#limits)."""
