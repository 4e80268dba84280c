#!/usr/bin/python3
"""Reads a Prometheus text file with the prometheus_client parser (the
reference implementation's Python port, Debian's python3-prometheus-client)
and prints its samples as JSON, for tests written in C:

    [{"family": ..., "type": ..., "help": ..., "name": ...,
      "labels": {...}, "value": ...}, ...]

Exits 1, with the parser's complaint, when the file does not parse, and
when a family's samples are split or a sample repeats, which the parser
lets pass but a scrape would refuse."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main(path):
    with open(path) as f:
        text = f.read()
    out = []
    seen_families = set()
    seen_samples = set()
    try:
        for fam in text_string_to_metric_families(text):
            if fam.name in seen_families:
                print(f"family {fam.name} appears twice", file=sys.stderr)
                return 1
            seen_families.add(fam.name)
            for s in fam.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                if key in seen_samples:
                    print(f"sample {key} appears twice", file=sys.stderr)
                    return 1
                seen_samples.add(key)
                v = s.value
                out.append({"family": fam.name, "type": fam.type,
                            "help": fam.documentation, "name": s.name,
                            "labels": s.labels,
                            "value": v if math.isfinite(v) else str(v)})
    except ValueError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
