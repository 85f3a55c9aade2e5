"""Runs the independent checker, jsoncompat (PyPI), on pairs of schema files.

Reads a JSON list of {"old": PATH, "new": PATH} on stdin and writes one JSON
list of results in the same order: for each pair, "deserializer" (can a
reader on the new schema read data written under the old one: Confluent's
BACKWARD) and "serializer" (can a writer on the new schema keep old readers
working: Confluent's FORWARD), each true, false, or an error string when
jsoncompat refuses the schema (it raises ValueError for what it does not
support).

The top-level "$id" is removed before jsoncompat sees a schema: it is an
identifier, not a constraint, and jsoncompat 0.3.1 takes a non-"#/..." $id
(ours are urn:orderflow:schema:...) for a remote reference it refuses.
"""
import json
import sys

import jsoncompat


def load(path):
    with open(path) as f:
        doc = json.load(f)
    if isinstance(doc, dict):
        doc.pop("$id", None)
    return json.dumps(doc)


def verdict(old, new, role):
    try:
        return jsoncompat.check_compat(old, new, role)
    except ValueError as e:  # unsupported feature or invalid schema
        return "error: " + str(e)


def main():
    out = []
    for pair in json.load(sys.stdin):
        old, new = load(pair["old"]), load(pair["new"])
        out.append({
            "deserializer": verdict(old, new, "deserializer"),
            "serializer": verdict(old, new, "serializer"),
        })
    json.dump(out, sys.stdout)


main()
