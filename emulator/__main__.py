"""`python -m emulator serve --port N --home DIR`: run the emulator in the foreground."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from emulator.app import create_app
from emulator.control import default_home, default_port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="The local AWS emulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve every emulated service on one port (foreground)")
    serve.add_argument("--port", type=int, default=default_port())
    serve.add_argument("--home", type=Path, default=default_home())
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(args.home.resolve(), args.port),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
