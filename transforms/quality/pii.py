"""Optional redaction of e-mail addresses and public IPv4 addresses in kept documents, counted per document.

Private, loopback, link-local, shared (CGNAT), "this network" (0/8) and multicast/reserved addresses are left
alone: they identify nobody. Version strings that look like addresses (1.2.3.4) are
redacted too; that is the usual price of a regex, and the counts make it visible.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms.quality.params import PiiParams

EMAIL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def _alternatives(values) -> str:
    return "|".join(str(v) for v in sorted(values, reverse=True))


def _public_ipv4() -> str:
    """IPv4 addresses outside 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.168/16, 224/3."""
    plain_first = set(range(1, 224)) - {10, 100, 127, 169, 172, 192}
    heads = [
        rf"(?:{_alternatives(plain_first)})\.{_OCTET}",
        rf"100\.(?:{_alternatives(set(range(256)) - set(range(64, 128)))})",
        rf"169\.(?:{_alternatives(set(range(256)) - {254})})",
        rf"172\.(?:{_alternatives(set(range(256)) - set(range(16, 32)))})",
        rf"192\.(?:{_alternatives(set(range(256)) - {168})})",
    ]
    return rf"\b(?:{'|'.join(heads)})\.{_OCTET}\.{_OCTET}\b"


PUBLIC_IPV4 = _public_ipv4()


def redact_pii(text: pl.Series, params: PiiParams) -> tuple[pl.Series, pl.DataFrame]:
    """(redacted text, counts q_pii_emails and q_pii_ips per document)."""
    counts = {}
    for name, enabled, pattern, replacement in (
        ("q_pii_emails", params.emails, EMAIL, params.email_replacement),
        ("q_pii_ips", params.ip_addresses, PUBLIC_IPV4, params.ip_replacement),
    ):
        found = (
            text.str.count_matches(pattern).to_numpy().astype(np.int64)
            if enabled
            else np.zeros(len(text), np.int64)
        )
        if found.any():
            text = text.str.replace_all(pattern, replacement.replace("$", "$$"))
        counts[name] = found
    return text, pl.DataFrame(counts)
