#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/ (committed; rerun after
changing a seed here). A few small files per target: valid inputs and a few damaged ones."""
import gzip
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"


def idx(dims, data=None):
    """An IDX file of unsigned bytes: magic, big-endian extents, data (counting bytes by default)."""
    n = 1
    for d in dims:
        n *= d
    body = bytes((i * 7) % 256 for i in range(n)) if data is None else data
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body


def gz(b):
    return gzip.compress(b, mtime=0)


def safetensors(tensors, metadata=None, cut=0):
    """A safetensors file: little-endian header length, JSON header, F32 data (counting floats)."""
    header, data, at = {}, b"", 0
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [at, at + 4 * n]}
        data += struct.pack(f"<{n}f", *[0.5 * i for i in range(n)])
        at += 4 * n
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    blob = struct.pack("<Q", len(text)) + text + data
    return blob[: len(blob) - cut]


SEEDS = {
    "idx": {
        "labels_5": idx([5]),
        "images_2x4x4": idx([2, 4, 4]),
        "matrix_2x3": idx([2, 3]),
        "truncated": idx([2, 3])[:-2],
        "claims_2g": idx([0x80000000], b""),
        "floats": bytes([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]),
    },
    "idx_gz": {
        "gz_matrix_2x3": gz(idx([2, 3])),
        "gz_images_3x2x2": gz(idx([3, 2, 2])),
        "gz_cut": gz(idx([40]))[:-12],
        "plain_labels_4": idx([4]),  # compressed by the target
        "plain_claims_2g": idx([0x80000000], b""),
    },
    "csv": {  # first byte: the options (see csv_fuzz.cpp)
        "labels": b"\x00" + b"1,2,3,0\n4.5,-5e3,+6,1\r\n\n7,8,9,2",
        "header": b"\x01" + b"a,b,c,label\n1,2,3,0\n",
        "semicolon": b"\x02" + b"1;2;3;4\n",
        "regression": b"\x04" + b"1,2,3.5,-4.25\n5,6,7,8\n",
        "short_lines": b"\x08" + b"1,2,3,0\n1234567890,1,2,3\n",
        "label_first": b"\x10" + b"3,1,2,3\n",
        "out_of_range": b"\x00" + b"1e39,2,3,0\n+-1,2,3,0\n",
    },
    "safetensors": {
        "linear": safetensors([("0.weight", [3, 2]), ("0.bias", [3])], {"plait.version": "0.1"}),
        "empty": safetensors([]),
        "scalar": safetensors([("plait.step", [])]),
        "truncated": safetensors([("0.weight", [4, 4])], cut=6),
        "huge_length": struct.pack("<Q", 1 << 40) + b"{}",
    },
}


def main():
    for target, files in SEEDS.items():
        folder = ROOT / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (folder / name).write_bytes(content)
    print(f"fuzz corpus: {sum(len(f) for f in SEEDS.values())} files in {ROOT}")


if __name__ == "__main__":
    main()
