"""Small benchmark excerpts shipped for `swirl quickstart` (licenses in LICENSES.md)."""
