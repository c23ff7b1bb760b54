#!/usr/bin/env python3
"""Prints the licences of every crate linked into Pendata's binary for one Rust target.

The set of crates comes from `cargo tree -e normal,no-proc-macro --target T` (cargo's own feature
resolution for that target; build scripts, proc-macros with what they use, and dev-dependencies are not
shipped), their details and source folders
from `cargo metadata`; nothing is fetched but the crates' sources, by cargo. Prints each crate's name,
version, licence expression and the licence files it ships; identical texts are printed once. A crate that
ships no licence file gets its authors and the standard text of its licence.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys

LICENSE_PREFIXES = ("license", "licence", "copying", "notice", "copyright", "unlicense", "authors")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="Rust target triple, e.g. x86_64-unknown-linux-gnu")
    ap.add_argument("--manifest-path", default=os.path.join(os.path.dirname(__file__), "..", "Cargo.toml"))
    args = ap.parse_args()

    meta = json.loads(
        subprocess.run(
            # Every platform's packages: only their details are read here, the set comes from cargo tree.
            ["cargo", "metadata", "--locked", "--format-version", "1", "--manifest-path", args.manifest_path],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    by_name = {(p["name"], p["version"]): p for p in meta["packages"]}
    tree = subprocess.run(
        ["cargo", "tree", "--locked", "-e", "normal,no-proc-macro", "--target", args.target, "-p", "pendata",
         "--prefix", "none", "-f", "{p}", "--manifest-path", args.manifest_path],
        check=True, capture_output=True, text=True,
    ).stdout
    shipped = set()
    for line in tree.splitlines():
        m = re.match(r"^(\S+) v(\S+)( \(proc-macro\))?", line)
        if m and not m.group(3) and m.group(1) != "pendata":
            shipped.add((m.group(1), m.group(2)))
    crates = sorted((by_name[k] for k in shipped), key=lambda p: (p["name"], p["version"]))
    out = sys.stdout
    out.write(
        "Third-party software in Pendata (Rust target %s)\n\n"
        "Pendata's binary links the following %d crates. Each entry gives the crate's licence as its\n"
        "authors declare it (an SPDX expression: \"A OR B\" means either licence may be chosen) and the\n"
        "licence texts and notices the crate ships.\n\n" % (args.target, len(crates))
    )
    for p in crates:
        out.write("  %-32s %-12s %s\n" % (p["name"], p["version"], p.get("license") or "see its licence file"))
    out.write("\n")

    seen = {}
    missing = []
    for p in crates:
        label = "%s %s" % (p["name"], p["version"])
        out.write("=" * 100 + "\n%s\nLicence: %s\n" % (label, p.get("license") or "(see licence file)"))
        if p.get("repository"):
            out.write("Source: %s\n" % p["repository"])
        files = licence_files(os.path.dirname(p["manifest_path"]))
        if not files:
            missing.append(label)
            out.write(
                "\nThe crate ships no licence file. Authors: %s.\nThe standard text of its licence "
                "applies; see \"Standard licence texts\" at the end.\n" % (", ".join(p.get("authors") or []) or "its contributors")
            )
        for path in files:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read().strip()
            digest = hashlib.sha256(text.encode()).hexdigest()
            name = os.path.basename(path)
            if digest in seen:
                out.write("\n%s: the same text as %s above.\n" % (name, seen[digest]))
            else:
                seen[digest] = "%s of %s" % (name, label)
                out.write("\n--- %s ---\n\n%s\n" % (name, text))
        out.write("\n")
    out.write("=" * 100 + "\nStandard licence texts\n\n--- MIT ---\n\n" + MIT + "\n")
    apache = next((v for k, v in seen.items() if v.startswith("LICENSE-APACHE")), None)
    out.write("\n--- Apache-2.0 ---\n\nThe text of %s above.\n" % (apache or "the Apache License 2.0"))
    if missing:
        print("third-party.py: %d of %d crates ship no licence file (%s); their authors and the standard"
              " text are given" % (len(missing), len(crates), ", ".join(missing)), file=sys.stderr)
    return 0


MIT = """Copyright (c) the crate's authors named above

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and
to permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of
the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
IN THE SOFTWARE."""


def licence_files(directory):
    """Licence files at the crate's top, and the notices of the fonts a crate embeds (egui's fonts)."""
    found = []
    for sub in ("", "fonts"):
        d = os.path.join(directory, sub)
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for n in names:
            path = os.path.join(d, n)
            if not os.path.isfile(path):
                continue
            if n.lower().startswith(LICENSE_PREFIXES) or (sub == "fonts" and n.endswith(".txt")):
                found.append(path)
    return found


if __name__ == "__main__":
    sys.exit(main())
