#!/usr/bin/env python3
"""Copies a Windows PE executable, marking the copy as a GUI program (no console window opens with it).

usage: gui-subsystem.py IN.exe OUT.exe

The same change as Microsoft's `editbin /SUBSYSTEM:WINDOWS`: one 16-bit field of the optional header,
IMAGE_SUBSYSTEM_WINDOWS_CUI (3) becomes IMAGE_SUBSYSTEM_WINDOWS_GUI (2). Nothing else differs.
"""

import struct
import sys


def main() -> int:
    src, dst = sys.argv[1], sys.argv[2]
    data = bytearray(open(src, "rb").read())
    if data[:2] != b"MZ":
        sys.exit("%s: not an MZ executable" % src)
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if data[pe:pe + 4] != b"PE\0\0":
        sys.exit("%s: no PE header" % src)
    optional = pe + 24
    magic = struct.unpack_from("<H", data, optional)[0]
    if magic != 0x20B:
        sys.exit("%s: not a PE32+ (64-bit) image" % src)
    field = optional + 68  # Subsystem, the same offset in PE32 and PE32+
    subsystem = struct.unpack_from("<H", data, field)[0]
    if subsystem != 3:
        sys.exit("%s: subsystem is %d, expected 3 (console)" % (src, subsystem))
    struct.pack_into("<H", data, field, 2)
    open(dst, "wb").write(bytes(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
