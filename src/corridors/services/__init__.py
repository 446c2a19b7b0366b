"""Use cases shared by the HTTP API and the command line.

Only this package, ``api`` and ``cli`` touch the store; the core (graph, risk, routing,
escort) is called from here with plain arrays and domain objects.
"""
