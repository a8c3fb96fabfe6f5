"""The HTTP face: ASGI app, filter chain, handlers."""
