"""Can a local web service (`classify serve`, `curate review`) listen where it was asked to?"""

from __future__ import annotations

import socket

from curate.errors import UsageError


def check_listen(host: str, port: int) -> None:
    """UsageError (one line) when nothing could listen on host:port (in use, unknown host)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind(address)
    except OSError as exc:  # socket.gaierror too
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port "
                         "or --host") from None
