#!/usr/bin/env python3
"""Writes the Kubernetes manifests in infra/k8s, infra/k8s-dev, infra/k8s-prod and infra/k8s-monitoring, and the
README's table of services, from one description of the system, so the services' manifests cannot drift apart. The
services themselves (names, start order, routes, databases, events) are the binary's: `ticketing services --json`
(see infra/catalog.py for how the binary is found: $TICKETING_BIN, else a `swift build`). The rest is
infra/manifests/. Run it after changing either; `--check` (run by scripts/validate-infra) fails when the committed
files differ from what it would write."""
import pathlib
import sys

import catalog as service_catalog
from manifests.readme import ReadmeError, with_table
from manifests.tree import manifests, render

ROOT = pathlib.Path(__file__).resolve().parent
README = ROOT.parent / "README.md"


def main():
    check = "--check" in sys.argv
    catalog = service_catalog.load_or_exit("infra/generate.py")
    stale = []
    for directory, files in manifests(catalog).items():
        (ROOT / directory).mkdir(exist_ok=True)
        for name, documents in files.items():
            path = ROOT / directory / name
            text = render(documents)
            if check:
                if not path.exists() or path.read_text() != text:
                    stale.append(str(path.relative_to(ROOT.parent)))
            else:
                path.write_text(text)
    readme = README.read_text()
    try:
        wanted = with_table(readme, catalog)
    except ReadmeError as error:
        print(f"infra/generate.py: {error}", file=sys.stderr)
        sys.exit(1)
    if wanted != readme:
        if check:
            stale.append(str(README.relative_to(ROOT.parent)) + " (its table of services)")
        else:
            README.write_text(wanted)
    if stale:
        print("infra: files differ from what infra/generate.py writes; run it and commit:", *stale, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
