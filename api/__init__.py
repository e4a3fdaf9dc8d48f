"""FastAPI application: the REST API under /api/v1, signed Twilio webhooks, and the dashboard.

Build it with :func:`api.app.create_app`; nothing here reads settings or opens a database at import.
"""
