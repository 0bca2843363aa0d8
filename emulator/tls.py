"""A throw-away CA (trustme) and a server certificate for 127.0.0.1/localhost.

The Azure SDK's bearer-token policy refuses plain HTTP, so the emulator must speak HTTPS; the CA
file is written to disk so clients trust it through REQUESTS_CA_BUNDLE / SSL_CERT_FILE only.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

SERVER_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsMaterial:
    ca_path: Path
    context: ssl.SSLContext


def create_tls(state_dir: Path) -> TlsMaterial:
    import trustme  # here, not at import: `python -m emulator` says which extra to install without it

    ca = trustme.CA(organization_name="ACR Guard emulator")
    server_cert = ca.issue_cert(*SERVER_NAMES)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(context)
    ca_path = state_dir / "emulator-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return TlsMaterial(ca_path=ca_path, context=context)
