"""Shared pytest setup: fixtures live in tests/fixtures/, one module per real peer."""

pytest_plugins = [
    "tests.fixtures.s3server",
    "tests.fixtures.cameras",
    "tests.fixtures.databases",
    "tests.fixtures.rtsp",
    "tests.fixtures.served",
    "tests.fixtures.onvif_device",
]
