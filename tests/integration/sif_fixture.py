"""Apptainer SIF files without apptainer (not in Debian 12): a squashfs image wrapped in a SIF global
header and descriptor table, field for field as github.com/apptainer/sif pkg/sif writes them
(encoding/binary, little-endian, packed):

  header, 128 bytes: launch[32] magic[10] "SIF_MAGIC\\0" version[3] "01\\0" arch[3] uuid[16]
    ctime mtime descr_free descr_total descr_offset descr_size data_offset data_size (int64 each)
  descriptor, 585 bytes: datatype int32, used bool, id groupid link uint32, offset size
    size_with_padding ctime mtime uid gid int64, name[128], extra[384]
    (a partition's extra: fstype int32 (1 squashfs), parttype int32 (2 primary system), arch[3])
"""
import struct
import subprocess
import uuid

HEADER = struct.Struct("<32s10s3s3s16s8q")
DESCRIPTOR = struct.Struct("<i?IIIqqqqqqq128s384s")
assert HEADER.size == 128 and DESCRIPTOR.size == 585

DATA_DEFFILE, DATA_PARTITION = 0x4001, 0x4004
FS_SQUASH, PART_SYSTEM, PART_PRIMSYS = 1, 1, 2
DESCRIPTOR_SLOTS = 48  # what `apptainer build` reserves
ALIGN = 4096


def wrap(squashfs: bytes, deffile: bytes = b"Bootstrap: localimage\n", parttype: int = PART_PRIMSYS,
         fstype: int = FS_SQUASH, slots: int = DESCRIPTOR_SLOTS, align: int = ALIGN) -> bytes:
    """A SIF holding a definition file and `squashfs` as its root partition (4 KiB aligned, as
    apptainer aligns data objects)."""
    descr_off = HEADER.size
    data_off = descr_off + slots * DESCRIPTOR.size
    data_off = (data_off + align - 1) // align * align
    objects, body, off = [], b"", data_off
    for datatype, blob, extra in (
        (DATA_DEFFILE, deffile, b""),
        (DATA_PARTITION, squashfs, struct.pack("<ii3s", fstype, parttype, b"02\0")),
    ):
        pad = (-off) % align if datatype == DATA_PARTITION else 0
        body += b"\0" * pad
        off += pad
        objects.append((datatype, off, len(blob), extra))
        body += blob
        off += len(blob)
    table = b""
    for i, (datatype, o, n, extra) in enumerate(objects):
        table += DESCRIPTOR.pack(datatype, True, i + 1, 0xF0000001, 0, o, n, n, 1700000000, 1700000000, 0, 0,
                                 b"", extra)
    table += b"\0" * ((slots - len(objects)) * DESCRIPTOR.size)
    header = HEADER.pack(b"#!/usr/bin/env run-singularity\n", b"SIF_MAGIC\0", b"01\0", b"02\0", uuid.uuid4().bytes,
                         1700000000, 1700000000, slots - len(objects), slots, descr_off, slots * DESCRIPTOR.size, data_off, len(body))
    out = header + table
    return out + b"\0" * (data_off - len(out)) + body


def partition(sif: bytes) -> tuple[int, int]:
    """(offset, size) of the first partition descriptor: what a test expects the server to find."""
    fields = HEADER.unpack_from(sif, 0)
    total, descr_off = fields[8], fields[9]
    for i in range(total):
        d = DESCRIPTOR.unpack_from(sif, descr_off + i * DESCRIPTOR.size)
        if d[1] and d[0] == DATA_PARTITION:
            return d[5], d[6]
    raise ValueError("no partition")


def set_partition(sif: bytes, offset: int, size: int) -> bytes:
    """The same SIF with its partition descriptor pointing at [offset, offset + size)."""
    fields = HEADER.unpack_from(sif, 0)
    total, descr_off = fields[8], fields[9]
    out = bytearray(sif)
    for i in range(total):
        at = descr_off + i * DESCRIPTOR.size
        if DESCRIPTOR.unpack_from(sif, at)[0] == DATA_PARTITION:
            struct.pack_into("<qq", out, at + 17, offset, size)
            return bytes(out)
    raise ValueError("no partition")


def mksquashfs(src_dir, out_path) -> bytes:
    """A squashfs image of `src_dir` (as root it keeps owners, device nodes and setuid bits)."""
    subprocess.run(["mksquashfs", str(src_dir), str(out_path), "-noappend", "-quiet", "-no-progress"], check=True,
                   stdout=subprocess.DEVNULL)
    with open(out_path, "rb") as f:
        return f.read()
