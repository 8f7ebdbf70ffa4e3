"""Serving: the app factory, the WSGI engines, the server handle and the CLI glue."""
