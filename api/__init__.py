"""The HTTP API: an aiohttp app over the catalog and the object store (`api.app.create_app`)."""
