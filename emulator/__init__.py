"""The local AWS: one server speaking the wire protocols of the services the product uses.

Run it with `python -m emulator serve --port N --home DIR`, or in the background through
`emulator.control.start/stop/status`. One sub-package per service: `backend` holds state and
semantics, `api` the wire protocol; `protocol/` has the shared routing and dispatchers.
"""
