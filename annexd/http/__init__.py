"""The HTTP interface: JSON API under /api/v1, /health, /metrics, OpenAPI and a small status page."""
