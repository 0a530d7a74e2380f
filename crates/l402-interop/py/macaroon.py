"""pymacaroons as an independent peer.

Reads {"cases": [...]} on stdin and writes {"results": [...]} on stdout, one per case, in order.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ["L402_INTEROP_DIR"], "py"))

from batch import serve_cases  # noqa: E402

from pymacaroons import MACAROON_V2, Macaroon, Verifier  # noqa: E402
from pymacaroons.serializers import BinarySerializer  # noqa: E402


def run(c):
    op = c["op"]
    if op == "verify":
        m = Macaroon.deserialize(c["token"])
        v = Verifier()
        # L402 first-party caveats are judged by the L402 layer, not by the macaroon library.
        v.satisfy_general(lambda _caveat: True)
        v.verify(m, bytes.fromhex(c["root_key"]))
        return {"ok": True}
    if op == "mint":
        m = Macaroon(
            location=c.get("location") or "",
            identifier=bytes.fromhex(c["identifier"]),
            key=bytes.fromhex(c["root_key"]),
            version=MACAROON_V2,
        )
        for cav in c["caveats"]:
            m.add_first_party_caveat(cav)
        return {"ok": True, "binary": BinarySerializer().serialize_raw(m).hex()}
    if op == "decode":
        m = Macaroon.deserialize(c["token"])
        return {
            "ok": True,
            "identifier": m.identifier_bytes.hex(),
            "location": m.location or None,
            "caveats": [cv.caveat_id_bytes.hex() for cv in m.caveats],
            "signature": m.signature,
        }
    raise ValueError("unknown op " + op)


serve_cases(run)
