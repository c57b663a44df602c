"""What the API service and the broadcast gateway share: the wire contract's names,
the event envelope, the event log in Redis, settings and token checks.

Nothing here imports Flask or pymongo, so both services (and clients, tests and
benchmarks) can use it.
"""
