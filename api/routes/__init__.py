"""One module per resource; :mod:`api.app` assembles them."""
