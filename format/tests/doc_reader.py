#!/usr/bin/env python3
"""An independent reader of shoal blobs, written from docs/FORMAT.md alone.

Python 3 standard library only: its own CRC-32C, roaring decoder (array, bitmap and run
containers, with and without the run cookie), bit unpacking and page parsing. It shares no
code with the Rust implementation; `format/tests/format_doc.rs` runs it and compares what it
prints with what the Rust code knows.

Usage:
    doc_reader.py BLOB                       print a snapshot's records, or a delta's changes
    doc_reader.py --apply SNAPSHOT DELTA...  apply deltas in order, print the resulting records

Output: JSON, one object per line (see "The reference reader's output" in docs/FORMAT.md).
Floats are printed as their IEEE bits in hex, so nothing depends on float formatting. Any
problem with a blob: a message on stderr and exit status 1.
"""

import json
import struct
import sys

MAGIC = b"SHOAL\r\n\x1a"
FORMAT_VERSION = 3
HEADER_LEN = 40
TRAILER_LEN = 24
ENTRY_LEN = 32
PAGE_HEADER_LEN = 24

BLOB_KINDS = {1: "snapshot", 2: "delta", 3: "reverse"}
SECTION_TYPE, SECTION_COLUMN, SECTION_BASES, SECTION_KEY_INDEX = 1, 2, 3, 4
TYPE_KINDS = {1: "object", 2: "list", 3: "set", 4: "map"}
FIELD_KINDS = {1: "bool", 2: "i32", 3: "i64", 4: "f32", 5: "f64", 6: "string", 7: "bytes", 8: "ref"}
FIXED_KINDS = {"bool", "i32", "i64", "f32", "f64", "ref"}
MAX_SCALE = {"f64": 18, "f32": 10}
LAYOUT_HEAP, LAYOUT_ORDINALS, LAYOUT_PAIRS, LAYOUT_DICT = 1, 2, 3, 4


class BlobError(Exception):
    """Anything wrong with a blob."""


def fail(message):
    raise BlobError(message)


# ---- CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF ----


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


# ---- little-endian reads with bounds checks ----


def _read(fmt, size, data, at, what):
    if at < 0 or at + size > len(data):
        fail(f"{what}: needs bytes {at}..{at + size}, only {len(data)} available")
    return struct.unpack_from(fmt, data, at)[0]


def u8(data, at, what="u8"):
    return _read("<B", 1, data, at, what)


def u16(data, at, what="u16"):
    return _read("<H", 2, data, at, what)


def u32(data, at, what="u32"):
    return _read("<I", 4, data, at, what)


def u64(data, at, what="u64"):
    return _read("<Q", 8, data, at, what)


def align8(n):
    return (n + 7) // 8 * 8


def signed64(raw):
    return raw - (1 << 64) if raw >= 1 << 63 else raw


# ---- bit packing: LSB-first little-endian bit stream ----


def packed_len(count, width):
    return align8((count * width + 7) // 8) + 8


def unpack(data, at, width, i):
    """Value `i` of the packed area of `width`-bit values starting at byte `at` of `data`."""
    if width == 0:
        return 0
    bit = i * width
    start = at + (bit >> 3)
    chunk = data[start:start + 9]
    return (int.from_bytes(chunk, "little") >> (bit & 7)) & ((1 << width) - 1)


# ---- roaring bitmaps, portable serialization ----


def roaring(data):
    """Decodes one serialized roaring bitmap that must be exactly `data`; a sorted list."""
    at = 0

    def take(n, what):
        nonlocal at
        if at + n > len(data):
            fail(f"roaring bitmap: {what} needs {n} bytes at {at}, {len(data) - at} remain")
        chunk = data[at:at + n]
        at += n
        return chunk

    cookie = u32(take(4, "cookie"), 0)
    if cookie == 12346:
        size = u32(take(4, "size"), 0)
        run_flags = None
        has_offsets = True
    elif cookie & 0xFFFF == 12347:
        size = (cookie >> 16) + 1
        run_flags = take((size + 7) // 8, "run container flags")
        has_offsets = size >= 4
    else:
        fail(f"roaring bitmap: unknown cookie {cookie:#x}")
    if size > 65536:
        fail(f"roaring bitmap: {size} containers")
    descriptions = take(4 * size, "descriptions")
    if has_offsets:
        take(4 * size, "offsets")
    values = []
    last_key = -1
    for i in range(size):
        key = u16(descriptions, 4 * i)
        cardinality = u16(descriptions, 4 * i + 2) + 1
        if key <= last_key:
            fail("roaring bitmap: container keys are not increasing")
        last_key = key
        high = key << 16
        if run_flags is not None and run_flags[i // 8] >> (i % 8) & 1:
            n_runs = u16(take(2, "run count"), 0)
            if n_runs == 0:
                fail("roaring bitmap: run container without runs")
            runs = take(4 * n_runs, "runs")
            last_end = -2
            found = 0
            for r in range(n_runs):
                start = u16(runs, 4 * r)
                end = start + u16(runs, 4 * r + 2)
                if end > 0xFFFF or start <= last_end + 1:
                    fail("roaring bitmap: runs overlap, touch or overflow")
                last_end = end
                values.extend(range(high | start, (high | end) + 1))
                found += end - start + 1
        elif cardinality <= 4096:
            array = take(2 * cardinality, "array container")
            last = -1
            for j in range(cardinality):
                low = u16(array, 2 * j)
                if low <= last:
                    fail("roaring bitmap: array container is not strictly increasing")
                last = low
                values.append(high | low)
            found = cardinality
        else:
            words = take(8192, "bitmap container")
            found = 0
            for byte_index, byte in enumerate(words):
                for bit in range(8):
                    if byte >> bit & 1:
                        values.append(high | (byte_index * 8 + bit))
                        found += 1
        if found != cardinality:
            fail(f"roaring bitmap: container holds {found} values, its description says {cardinality}")
    if at != len(data):
        fail(f"roaring bitmap: {len(data) - at} bytes after the bitmap")
    return values


def read_bitmap(section, at, what):
    """A bitmap in its wrapper (u64 length, bitmap, zero padding to 8) at `at` of a section;
    returns it and the offset just past the padding."""
    length = u64(section, at, f"{what}: bitmap length")
    end = at + 8 + length
    if end > len(section):
        fail(f"{what}: bitmap of {length} bytes runs past the section")
    try:
        values = roaring(section[at + 8:end])
    except BlobError as e:
        fail(f"{what}: {e}")
    return values, align8(end)


# ---- schema ----


class Schema:
    def __init__(self, data):
        self.data = data
        self.at = 0
        count = self.count(5)
        raw = [self.raw_type() for _ in range(count)]
        if self.at != len(data):
            fail(f"schema: {len(data) - self.at} trailing bytes")
        self.types = raw
        self.validate()

    def take(self, n):
        if self.at + n > len(self.data):
            fail(f"schema: truncated at byte {self.at}")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return u32(self.take(4), 0)

    def count(self, min_item):
        n = self.u32()
        if n * min_item > len(self.data) - self.at:
            fail(f"schema: count {n} exceeds the bytes that remain")
        return n

    def string(self):
        n = self.count(1)
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            fail("schema: a name is not UTF-8")

    def raw_type(self):
        name = self.string()
        code = self.u8()
        if code not in TYPE_KINDS:
            fail(f"schema: unknown type kind {code} for `{name}`")
        t = {"name": name, "kind": TYPE_KINDS[code]}
        if code == 1:
            fields = []
            for _ in range(self.count(5)):
                fname = self.string()
                fcode = self.u8()
                if fcode not in FIELD_KINDS:
                    fail(f"schema: unknown field kind {fcode} for `{name}.{fname}`")
                target = self.u32() if fcode == 8 else None
                fields.append({"name": fname, "kind": FIELD_KINDS[fcode], "target": target})
            key = []
            for _ in range(self.count(4)):
                key.append([self.string() for _ in range(self.count(4))])
            t["fields"] = fields
            t["key"] = key
        elif code in (2, 3):
            t["element"] = self.u32()
        else:
            t["key_type"] = self.u32()
            t["value_type"] = self.u32()
        return t

    def validate(self):
        n = len(self.types)
        names = set()
        for t in self.types:
            if not t["name"] or t["name"] in names:
                fail(f"schema: empty or duplicate type name `{t['name']}`")
            names.add(t["name"])
            targets = []
            if t["kind"] == "object":
                fnames = set()
                for f in t["fields"]:
                    if not f["name"] or f["name"] in fnames:
                        fail(f"schema: empty or duplicate field `{f['name']}` in `{t['name']}`")
                    fnames.add(f["name"])
                    if f["target"] is not None:
                        targets.append(f["target"])
            elif t["kind"] in ("list", "set"):
                targets.append(t["element"])
            else:
                targets += [t["key_type"], t["value_type"]]
            for target in targets:
                if target >= n:
                    fail(f"schema: type index {target} out of range in `{t['name']}`")
        for t in self.types:
            if t["kind"] == "object":
                for path in t["key"]:
                    self.check_key_path(t, path)

    def check_key_path(self, t, path):
        if not path:
            fail(f"schema: empty key path in `{t['name']}`")
        current = t
        for i, step in enumerate(path):
            fields = [f for f in current["fields"] if f["name"] == step]
            if not fields:
                fail(f"schema: key of `{t['name']}`: no field `{step}` in `{current['name']}`")
            f = fields[0]
            last = i + 1 == len(path)
            if f["kind"] == "ref":
                if last:
                    fail(f"schema: key of `{t['name']}` ends on the reference `{step}`")
                current = self.types[f["target"]]
                if current["kind"] != "object":
                    fail(f"schema: key of `{t['name']}` goes through a non-object type")
            elif not last:
                fail(f"schema: key of `{t['name']}` goes on after the scalar `{step}`")

    def columns(self, ty):
        """The storage of each column of a type: ('fixed', kind) or ('var', layout)."""
        t = self.types[ty]
        if t["kind"] == "object":
            return [
                ("fixed", f["kind"]) if f["kind"] in FIXED_KINDS else ("var", LAYOUT_HEAP)
                for f in t["fields"]
            ]
        if t["kind"] in ("list", "set"):
            return [("var", LAYOUT_ORDINALS)]
        return [("var", LAYOUT_PAIRS)]

    def describe(self):
        out = []
        name = lambda i: self.types[i]["name"]  # noqa: E731
        for t in self.types:
            d = {"name": t["name"], "kind": t["kind"]}
            if t["kind"] == "object":
                d["fields"] = []
                for f in t["fields"]:
                    fd = {"name": f["name"], "kind": f["kind"]}
                    if f["target"] is not None:
                        fd["target"] = name(f["target"])
                    d["fields"].append(fd)
                d["key"] = t["key"]
            elif t["kind"] in ("list", "set"):
                d["element"] = name(t["element"])
            else:
                d["key_type"] = name(t["key_type"])
                d["value_type"] = name(t["value_type"])
            out.append(d)
        return out


# ---- values ----


def int_to_f32(n):
    """`n` rounded to the nearest binary32 (ties to even), as a Python float."""
    m = abs(n)
    if m.bit_length() > 24:
        shift = m.bit_length() - 24
        q, r = m >> shift, m & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if r > half or (r == half and q & 1):
            q += 1
        m = q << shift
    return float(-m if n < 0 else m)


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64_bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def fixed_value(kind, raw, decimal, scale):
    """The tagged JSON value of a non-null fixed value with frame-of-reference result `raw`."""
    if decimal:
        n = signed64(raw)
        if kind == "f64":
            return {"f64": "%016x" % f64_bits(float(n) / float(10**scale))}
        # binary32 division: both operands are binary32 values; one rounding of the exact
        # binary64 quotient to binary32 is the correctly rounded binary32 quotient.
        return {"f32": "%08x" % f32_bits(int_to_f32(n) / float(10**scale))}
    if kind == "bool":
        return {"bool": raw != 0}
    if kind == "i32":
        low = raw & 0xFFFFFFFF
        return {"i32": low - (1 << 32) if low >= 1 << 31 else low}
    if kind == "i64":
        return {"i64": signed64(raw)}
    if kind == "f32":
        return {"f32": "%08x" % (raw & 0xFFFFFFFF)}
    if kind == "f64":
        return {"f64": "%016x" % raw}
    if kind == "ref":
        return {"ref": min(raw, 0xFFFFFFFF)}
    if kind == "distance":
        return signed64(raw)
    raise AssertionError(kind)


def decode_fixed_page(page, kind, count, what):
    """The values of a fixed page (None for null) of a column of `kind`."""
    if len(page) < PAGE_HEADER_LEN:
        fail(f"{what}: page shorter than its header")
    encoding, width, flags, scale = page[0], page[1], page[2], page[3]
    n = u32(page, 4)
    base = u64(page, 8)
    null_code = u64(page, 16)
    if n != count:
        fail(f"{what}: page holds {n} values, expected {count}")
    if width > 64:
        fail(f"{what}: width {width}")
    if flags & ~1:
        fail(f"{what}: unknown flags {flags:#x}")
    has_nulls = flags & 1 == 1
    if not has_nulls and null_code != 0:
        fail(f"{what}: null code set on a page without nulls")
    if encoding == 0 and scale == 0:
        decimal = False
    elif encoding == 1 and kind in MAX_SCALE and scale <= MAX_SCALE[kind]:
        decimal = True
    else:
        fail(f"{what}: encoding {encoding} with scale {scale} is not valid for {kind}")
    if len(page) != PAGE_HEADER_LEN + packed_len(count, width):
        fail(f"{what}: page of {len(page)} bytes, its header implies {PAGE_HEADER_LEN + packed_len(count, width)}")
    values = []
    for i in range(count):
        code = unpack(page, PAGE_HEADER_LEN, width, i)
        if has_nulls and code == null_code:
            values.append(None)
        else:
            values.append(fixed_value(kind, (base + code) & 0xFFFFFFFFFFFFFFFF, decimal, scale))
    return values


def decode_var_page(page, layout, field_kind, count, what):
    """The values of a var page: tagged strings or bytes (None for null), element lists, or
    entry lists."""
    if len(page) < PAGE_HEADER_LEN:
        fail(f"{what}: page shorter than its header")
    page_layout, ends_width, flags, key_width = page[0], page[1], page[2], page[3]
    if page_layout == LAYOUT_DICT and layout == LAYOUT_HEAP:
        return decode_dict_page(page, field_kind, count, what)
    n = u32(page, 4)
    payload_count = u64(page, 8)
    value_width = page[16]
    if any(page[17:24]):
        fail(f"{what}: reserved header bytes are not zero")
    if n != count:
        fail(f"{what}: page holds {n} values, expected {count}")
    if page_layout != layout:
        fail(f"{what}: layout {page_layout}, expected {layout}")
    if flags & ~1:
        fail(f"{what}: unknown flags {flags:#x}")
    has_nulls = flags & 1 == 1
    if layout == LAYOUT_HEAP:
        ok = key_width == 0 and value_width == 0
    elif layout == LAYOUT_ORDINALS:
        ok = key_width <= 32 and value_width == 0 and not has_nulls
    else:
        ok = key_width <= 32 and value_width <= 32 and not has_nulls
    if not ok or ends_width > 64:
        fail(f"{what}: widths {ends_width}/{key_width}/{value_width} or null flag invalid for layout {layout}")
    ends_at = PAGE_HEADER_LEN
    nulls_at = ends_at + packed_len(count, ends_width)
    payload_at = nulls_at + (packed_len(count, 1) if has_nulls else 0)
    if layout == LAYOUT_HEAP:
        payload_len = align8(payload_count)
    elif layout == LAYOUT_ORDINALS:
        payload_len = packed_len(payload_count, key_width)
    else:
        payload_len = packed_len(payload_count, key_width) + packed_len(payload_count, value_width)
    if payload_at + payload_len != len(page):
        fail(f"{what}: page of {len(page)} bytes, its header implies {payload_at + payload_len}")
    values = []
    end = 0
    for i in range(count):
        start, end = end, unpack(page, ends_at, ends_width, i)
        is_null = has_nulls and unpack(page, nulls_at, 1, i) == 1
        if is_null:
            values.append(None)
            continue
        if not start <= end <= payload_count:
            fail(f"{what}: value {i}: span {start}..{end} outside the payload of {payload_count}")
        if layout == LAYOUT_HEAP:
            raw = page[payload_at + start:payload_at + end]
            if field_kind == "string":
                try:
                    values.append({"string": raw.decode("utf-8")})
                except UnicodeDecodeError:
                    fail(f"{what}: value {i}: string is not UTF-8")
            else:
                values.append({"bytes": raw.hex()})
        elif layout == LAYOUT_ORDINALS:
            values.append([unpack(page, payload_at, key_width, j) for j in range(start, end)])
        else:
            values_at = payload_at + packed_len(payload_count, key_width)
            values.append([
                [unpack(page, payload_at, key_width, j), unpack(page, values_at, value_width, j)]
                for j in range(start, end)
            ])
    return values


def heap_value(raw, field_kind, what, i):
    if field_kind == "string":
        try:
            return {"string": raw.decode("utf-8")}
        except UnicodeDecodeError:
            fail(f"{what}: value {i}: string is not UTF-8")
    return {"bytes": raw.hex()}


def decode_dict_page(page, field_kind, count, what):
    """A dictionary page (layout 4, format version 3): codes into the page's distinct values."""
    ends_width, flags, code_width = page[1], page[2], page[3]
    n = u32(page, 4)
    heap_len = u64(page, 8)
    dict_count = u32(page, 20)
    if page[16] or any(page[17:20]):
        fail(f"{what}: reserved header bytes are not zero")
    if n != count:
        fail(f"{what}: page holds {n} values, expected {count}")
    if flags & ~1:
        fail(f"{what}: unknown flags {flags:#x}")
    if code_width > 32 or ends_width > 64:
        fail(f"{what}: widths {ends_width}/{code_width} invalid for a dictionary page")
    has_nulls = flags & 1 == 1
    codes_at = PAGE_HEADER_LEN
    nulls_at = codes_at + packed_len(count, code_width)
    ends_at = nulls_at + (packed_len(count, 1) if has_nulls else 0)
    heap_at = ends_at + packed_len(dict_count, ends_width)
    if heap_at + align8(heap_len) != len(page):
        fail(f"{what}: page of {len(page)} bytes, its header implies {heap_at + align8(heap_len)}")
    entries = []
    end = 0
    for j in range(dict_count):
        start, end = end, unpack(page, ends_at, ends_width, j)
        if not start <= end <= heap_len:
            fail(f"{what}: dictionary entry {j}: span {start}..{end} outside the heap of {heap_len}")
        entries.append(page[heap_at + start:heap_at + end])
    values = []
    for i in range(count):
        if has_nulls and unpack(page, nulls_at, 1, i) == 1:
            values.append(None)
            continue
        code = unpack(page, codes_at, code_width, i)
        if code >= dict_count:
            fail(f"{what}: value {i}: code {code} past the {dict_count} dictionary entries")
        values.append(heap_value(entries[code], field_kind, what, i))
    return values


# ---- key index sections ----

MASK64 = (1 << 64) - 1
KEY_SEED = 0x243F6A8885A308D3
NULL_WORD = 0x9E3779B97F4A7C15


def fmix64(x):
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & MASK64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & MASK64
    return x ^ (x >> 33)


def bytes_word(raw):
    w = fmix64(len(raw) ^ KEY_SEED)
    for at in range(0, len(raw), 8):
        chunk = raw[at:at + 8] + bytes(8 - len(raw[at:at + 8]))
        w = fmix64(w ^ int.from_bytes(chunk, "little"))
    return w


def key_word(value):
    """The word of one tagged key value, as the key hash takes it."""
    if value is None:
        return NULL_WORD
    (tag, v), = value.items()
    if tag == "bool":
        return 1 if v else 0
    if tag in ("i32", "i64", "ref"):
        return v & MASK64
    if tag in ("f32", "f64"):
        return int(v, 16)
    if tag == "string":
        return bytes_word(v.encode("utf-8"))
    return bytes_word(bytes.fromhex(v))


def key_capacity(entries):
    want = entries + entries // 4 + 8
    bits = want.bit_length()
    if bits <= 4:
        return want
    unit = 1 << (bits - 4)
    return (want + unit - 1) // unit * unit


def key_table(slots, capacity):
    """The canonical table: each slot, in increasing order, at max(home, previous + 1)."""
    table = [0] * capacity
    following = 0
    for s in sorted(slots):
        at = max(((s >> 64) * capacity) >> 32, following)
        table.extend([0] * (at + 1 - len(table)))
        table[at] = s
        following = at + 1
    return table


def check_key_index(blob, ty, t, records):
    """Checks the key index section of a type keyed by its own fields against its records."""
    what = f"key index of `{t['name']}`"
    entry = blob.entries.get((SECTION_KEY_INDEX, ty, 0))
    if entry is None or t["kind"] != "object" or not t["key"] or any(len(p) != 1 for p in t["key"]):
        return
    section = blob.section(SECTION_KEY_INDEX, ty, 0, what)
    if len(section) < 32:
        fail(f"{what}: no room for the header")
    hash_id, reserved = u32(section, 0, what), u32(section, 4, what)
    capacity, entries, n_slots = u64(section, 8, what), u64(section, 16, what), u64(section, 24, what)
    if hash_id != 1 or reserved:
        fail(f"{what}: unknown key hash {hash_id} or reserved bytes set")
    if entries != len(records) or capacity != key_capacity(entries):
        fail(f"{what}: {entries} entries at capacity {capacity} for {len(records)} records")
    if len(section) != 32 + align8(12 * n_slots) or any(section[32 + 12 * n_slots:]):
        fail(f"{what}: {n_slots} slots do not fill {len(section)} bytes")
    slots = []
    for o, record in records.items():
        h = KEY_SEED
        for path in t["key"]:
            h = fmix64(h ^ key_word(record[path[0]]))
        slots.append(h << 32 | (o + 1))
    expected = key_table(slots, capacity)
    found = [u64(section, 32 + 12 * i, what) << 32 | u32(section, 40 + 12 * i, what)
             for i in range(n_slots)]
    if found != expected:
        fail(f"{what}: the table is not the canonical table of the type's keys")


# ---- the blob ----


class Blob:
    def __init__(self, data):
        self.data = data
        self.parse_header()
        self.parse_table()
        self.verify_sections()

    def parse_header(self):
        data = self.data
        if len(data) < HEADER_LEN + TRAILER_LEN:
            fail(f"blob of {len(data)} bytes is shorter than a header and a trailer")
        if data[0:8] != MAGIC:
            fail("bad magic: not a shoal blob")
        version = u32(data, 8)
        if not 1 <= version <= FORMAT_VERSION:
            fail(f"format version {version}, this reader knows 1 to {FORMAT_VERSION}")
        self.format_version = version
        if data[12] not in BLOB_KINDS:
            fail(f"unknown blob kind {data[12]}")
        self.kind = BLOB_KINDS[data[12]]
        self.page_shift = data[13]
        if not 4 <= self.page_shift <= 16:
            fail(f"page shift {self.page_shift} outside 4..=16")
        self.changes_schema = data[14] == 1
        flag_allowed = version >= 2 and self.kind != "snapshot"
        if data[15] != 0 or (data[14] != 0 and not (self.changes_schema and flag_allowed)):
            fail("reserved header bytes are not zero")
        self.from_version = u64(data, 16)
        self.to_version = u64(data, 24)
        schema_len = u32(data, 32)
        self.data_start = align8(HEADER_LEN + schema_len)
        if self.data_start > len(data) - TRAILER_LEN:
            fail(f"schema of {schema_len} bytes does not fit the blob")
        schema_bytes = data[HEADER_LEN:HEADER_LEN + schema_len]
        stored = u32(data, 36)
        if crc32c(data[0:36] + schema_bytes) != stored:
            fail("header checksum mismatch")
        self.schema = Schema(schema_bytes)
        ordered = {
            "snapshot": self.from_version == 0,
            "delta": self.from_version < self.to_version,
            "reverse": self.from_version > self.to_version,
        }[self.kind]
        if not ordered:
            fail(f"versions {self.from_version} -> {self.to_version} do not fit a {self.kind}")

    def parse_table(self):
        data = self.data
        n = len(data)
        trailer = n - TRAILER_LEN
        if data[trailer + 16:] != MAGIC:
            fail("the blob does not end with the magic: truncated or not a blob")
        table_at = u64(data, trailer)
        count = u32(data, trailer + 8)
        if table_at < self.data_start or table_at % 8 or table_at + ENTRY_LEN * count != trailer:
            fail(f"section table at {table_at} with {count} entries does not end at the trailer")
        if crc32c(data[table_at:trailer]) != u32(data, trailer + 12):
            fail("section table checksum mismatch")
        self.entries = {}
        end_of_previous = self.data_start
        for i in range(count):
            e = table_at + ENTRY_LEN * i
            kind, reserved = u16(data, e), u16(data, e + 2)
            ty, column, crc = u32(data, e + 4), u32(data, e + 8), u32(data, e + 12)
            offset, length = u64(data, e + 16), u64(data, e + 24)
            if (reserved or offset % 8 or length % 8 or offset < end_of_previous
                    or offset + length > table_at):
                fail(f"section table entry {i} is unaligned, out of order or out of range")
            end_of_previous = offset + length
            if (kind, ty, column) in self.entries:
                fail(f"section ({kind}, {ty}, {column}) appears twice")
            self.entries[(kind, ty, column)] = (crc, offset, length)

    def verify_sections(self):
        for (kind, ty, column), (crc, offset, length) in self.entries.items():
            if crc32c(self.data[offset:offset + length]) != crc:
                fail(f"checksum mismatch in section (kind {kind}, type {ty}, column {column})")

    def section(self, kind, ty, column, what):
        entry = self.entries.get((kind, ty, column))
        if entry is None:
            fail(f"{what}: section is missing from the section table")
        _, offset, length = entry
        return self.data[offset:offset + length]

    def type_section(self, ty, bitmaps):
        name = self.schema.types[ty]["name"]
        what = f"type section of `{name}`"
        section = self.section(SECTION_TYPE, ty, 0, what)
        slot_count = u32(section, 0, what)
        n = u32(section, 4, what)
        if n != bitmaps:
            fail(f"{what}: {n} bitmaps, expected {bitmaps}")
        at = 8
        out = []
        for _ in range(n):
            values, at = read_bitmap(section, at, what)
            out.append(values)
        if at != len(section):
            fail(f"{what}: {len(section) - at} bytes after the bitmaps")
        return slot_count, out

    def column_values(self, section, prefix, storage, field_kind, count, what):
        """Every value of a column section whose pages start at `prefix` and hold `count`
        values, checking the directory and every page."""
        per_page = 1 << self.page_shift
        n_pages = (count + per_page - 1) // per_page
        dir_at = len(section) - 8 * n_pages
        if dir_at < prefix:
            fail(f"{what}: the directory of {n_pages} pages does not fit the section")
        expected = prefix
        values = []
        for p in range(n_pages):
            start = u64(section, dir_at + 8 * p)
            end = u64(section, dir_at + 8 * (p + 1)) if p + 1 < n_pages else dir_at
            if start != expected or start % 8 or start > end or end > dir_at:
                fail(f"{what}: page {p} at {start}..{end} does not follow the previous page")
            expected = end
            page = section[start:end]
            in_page = min(per_page, count - p * per_page)
            where = f"{what}, page {p}"
            if storage[0] == "fixed":
                values += decode_fixed_page(page, storage[1], in_page, where)
            else:
                values += decode_var_page(page, storage[1], field_kind, in_page, where)
        if expected != dir_at:
            fail(f"{what}: {dir_at - expected} bytes between the prefix and the directory")
        return values

    def column_label(self, ty, c):
        t = self.schema.types[ty]
        if t["kind"] == "object":
            return f"column `{t['name']}.{t['fields'][c]['name']}`", t["fields"][c]["name"], t["fields"][c]["kind"]
        return f"elements of `{t['name']}`", None, None

    # -- snapshots --

    def snapshot_records(self):
        """{type index: {ordinal: record}}, a record being a dict of tagged field values, an
        element list or an entry list."""
        if self.kind != "snapshot":
            fail(f"expected a snapshot, found a {self.kind}")
        state = {}
        for ty, t in enumerate(self.schema.types):
            slot_count, (populated,) = self.type_section(ty, 1)
            expected = populated[-1] + 1 if populated else 0
            if slot_count != expected:
                fail(f"type section of `{t['name']}`: slot count {slot_count}, highest populated ordinal says {expected}")
            columns = []
            for c, storage in enumerate(self.schema.columns(ty)):
                what, _, field_kind = self.column_label(ty, c)
                section = self.section(SECTION_COLUMN, ty, c, what)
                columns.append(self.column_values(section, 0, storage, field_kind, slot_count, what))
            records = {}
            for o in populated:
                if t["kind"] == "object":
                    records[o] = {f["name"]: columns[c][o] for c, f in enumerate(t["fields"])}
                else:
                    records[o] = columns[0][o]
            check_key_index(self, ty, t, records)
            state[ty] = records
        return state

    # -- deltas --

    def delta_types(self):
        """Per type: slot count, removed, added, distances, and per column (present, values)."""
        if self.kind == "snapshot":
            fail("expected a delta or reverse delta, found a snapshot")
        out = []
        for ty, t in enumerate(self.schema.types):
            slot_count, (removed, added) = self.type_section(ty, 2)
            if added and added[-1] >= slot_count:
                fail(f"type section of `{t['name']}`: added ordinals reach beyond the slot count {slot_count}")
            what = f"bases of `{t['name']}`"
            section = self.section(SECTION_BASES, ty, 0, what)
            distances = self.column_values(section, 0, ("fixed", "distance"), None, len(added), what)
            columns = []
            for c, storage in enumerate(self.schema.columns(ty)):
                what, _, field_kind = self.column_label(ty, c)
                section = self.section(SECTION_COLUMN, ty, c, what)
                present, prefix = read_bitmap(section, 0, what)
                if present and present[-1] >= len(added):
                    fail(f"{what}: values for added record beyond the {len(added)} added")
                values = self.column_values(section, prefix, storage, field_kind, len(present), what)
                columns.append((present, values))
            out.append({
                "slot_count": slot_count,
                "removed": removed,
                "added": added,
                "distances": distances,
                "columns": columns,
            })
        return out


def base_of(added_ordinal, distance):
    if distance is None:
        return None
    base = added_ordinal - distance
    return base if 0 <= base <= 0xFFFFFFFF else 0xFFFFFFFF


def projected(state, old, new):
    """`state` (of schema `old`) read in schema `new`, a compatible change: types and fields
    matched by name, a field `old` lacks null, a type it lacks empty, what `new` lacks gone."""
    old_types = {t["name"]: d for t, d in zip(old.types, old.describe())}
    old_index = {t["name"]: i for i, t in enumerate(old.types)}
    out = {}
    for ty, (t, d) in enumerate(zip(new.types, new.describe())):
        was = old_types.get(t["name"])
        if was is None:
            out[ty] = {}
            continue
        if was["kind"] != d["kind"] or was.get("key") != d.get("key"):
            fail(f"the delta changes `{t['name']}` in a way that cannot apply in place")
        if d["kind"] == "object":
            kinds = {f["name"]: f for f in was["fields"]}
            for f in d["fields"]:
                if f["name"] in kinds and kinds[f["name"]] != f:
                    fail(f"the delta changes the kind of `{t['name']}.{f['name']}`")
        elif {k: v for k, v in was.items()} != d:
            fail(f"the delta changes what `{t['name']}` holds")
        records = state[old_index[t["name"]]]
        if d["kind"] == "object":
            names = [f["name"] for f in d["fields"]]
            out[ty] = {o: {n: r.get(n) for n in names} for o, r in records.items()}
        else:
            out[ty] = dict(records)
    return out


def apply_delta(blob, schema, state, version):
    """Applies a delta blob to `state` (a snapshot_records() result at `version`, of
    `schema`); a version-2 delta of another schema applies to the state projected into it."""
    if blob.schema.describe() != schema.describe():
        if not blob.changes_schema:
            fail("the delta's schema differs from the state's")
        state = projected(state, schema, blob.schema)
        schema = blob.schema
    if blob.from_version != version:
        fail(f"the delta applies to version {blob.from_version}, the state is version {version}")
    new_state = {}
    for ty, d in enumerate(blob.delta_types()):
        t = schema.types[ty]
        old = state[ty]
        n_columns = len(schema.columns(ty))
        present_sets = [
            {j: rank for rank, j in enumerate(present)} for present, _ in d["columns"]
        ]
        built = []
        for j, o in enumerate(d["added"]):
            base = base_of(o, d["distances"][j])
            if base is not None:
                if base not in old:
                    fail(f"`{t['name']}`: added {o} is built on {base}, which is not there")
                record = json.loads(json.dumps(old[base]))
            elif t["kind"] == "object":
                record = {f["name"]: None for f in t["fields"]}
            else:
                record = None
            complete = base is not None or n_columns == 0
            for c in range(n_columns):
                rank = present_sets[c].get(j)
                if rank is None:
                    continue
                complete = True
                value = d["columns"][c][1][rank]
                if t["kind"] == "object":
                    record[t["fields"][c]["name"]] = value
                else:
                    record = value
            if not complete:
                fail(f"`{t['name']}`: added {o} has neither base nor values")
            built.append((o, record))
        records = dict(old)
        for o in d["removed"]:
            if o not in records:
                fail(f"`{t['name']}`: removes {o}, which is not there")
            del records[o]
        for o, record in built:
            if o in records:
                fail(f"`{t['name']}`: adds {o}, which is taken")
            records[o] = record
        slots = max(records) + 1 if records else 0
        if slots != d["slot_count"]:
            fail(f"`{t['name']}`: leaves {slots} slots, the delta says {d['slot_count']}")
        new_state[ty] = records
    return new_state


# ---- output ----


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")


def header_line(blob):
    return {
        "blob": blob.kind,
        "format_version": blob.format_version,
        "page_shift": blob.page_shift,
        "from": blob.from_version,
        "to": blob.to_version,
        "schema": blob.schema.describe(),
    }


def record_line(schema, ty, ordinal, record):
    t = schema.types[ty]
    line = {"type": t["name"], "ordinal": ordinal}
    if t["kind"] == "object":
        line["fields"] = record
    elif t["kind"] == "map":
        line["entries"] = record
    else:
        line["elements"] = record
    return line


def print_state(schema, state):
    for ty in range(len(schema.types)):
        for o in sorted(state[ty]):
            emit(record_line(schema, ty, o, state[ty][o]))


def read_blob(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    try:
        return Blob(data)
    except BlobError as e:
        fail(f"{path}: {e}")


def main(argv):
    if len(argv) >= 3 and argv[0] == "--apply":
        snapshot = read_blob(argv[1])
        try:
            state = snapshot.snapshot_records()
        except BlobError as e:
            fail(f"{argv[1]}: {e}")
        version = snapshot.to_version
        schema = snapshot.schema
        for path in argv[2:]:
            delta = read_blob(path)
            try:
                state = apply_delta(delta, schema, state, version)
            except BlobError as e:
                fail(f"{path}: {e}")
            version, schema = delta.to_version, delta.schema
        emit({"blob": "state", "version": version, "schema": schema.describe()})
        print_state(schema, state)
        return
    if len(argv) != 1:
        fail("usage: doc_reader.py BLOB | doc_reader.py --apply SNAPSHOT DELTA...")
    blob = read_blob(argv[0])
    try:
        lines = blob_lines(blob)
    except BlobError as e:
        fail(f"{argv[0]}: {e}")
    # Print only once everything has been read and checked.
    for line in lines:
        emit(line)


def blob_lines(blob):
    lines = [header_line(blob)]
    if blob.kind == "snapshot":
        state = blob.snapshot_records()
        for ty in range(len(blob.schema.types)):
            for o in sorted(state[ty]):
                lines.append(record_line(blob.schema, ty, o, state[ty][o]))
    else:
        for ty, d in enumerate(blob.delta_types()):
            name = blob.schema.types[ty]["name"]
            lines.append({
                "type": name,
                "slot_count": d["slot_count"],
                "removed": d["removed"],
                "added": d["added"],
                "distances": d["distances"],
                "bases": [base_of(o, dist) for o, dist in zip(d["added"], d["distances"])],
            })
            for c, (present, values) in enumerate(d["columns"]):
                _, field, _ = blob.column_label(ty, c)
                lines.append({
                    "type": name,
                    "column": c,
                    "field": field,
                    "present": present,
                    "values": values,
                })
    return lines


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BlobError as e:
        sys.stderr.write(f"doc_reader: {e}\n")
        sys.exit(1)
