"""The `anbu` command: the composition root that wires Anbu's roles together."""
