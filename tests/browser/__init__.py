"""Tests that drive Debian's Chromium through Playwright against a running `camgrid demo`."""
