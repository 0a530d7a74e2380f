"""The peer protocol every script here speaks: {"cases": [...]} on stdin, {"results": [...]}
on stdout, one result per case, in order. A case the peer refuses (it raises) becomes
{"ok": false, "error": ...}; only a bug in the harness itself makes the script fail."""
import json
import sys


def serve_cases(run):
    results = []
    for c in json.load(sys.stdin)["cases"]:
        try:
            results.append(run(c))
        except Exception as e:  # a peer's refusal is a result, not a crash of the harness
            results.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    json.dump({"results": results}, sys.stdout)
