"""Pure transforms ``DataFrame -> DataFrame``: the declared rules and the named transforms."""
