"""Writes the example catalog as an Apache Iceberg table, as a warehouse does, with pyiceberg:
a SQL catalog on SQLite in a folder, data and metadata files in that folder or under an S3
location, and these snapshots:

1. an append of v1.jsonl;
2. an overwrite with v2.jsonl;
3. a delete of the movies older than 1925 (pyiceberg rewrites the data files: copy-on-write);
4. a position delete file (merge-on-read) deleting the rows of the movies whose id is a
   multiple of 7, by data file path and row position;
5. an equality delete file deleting the movies whose id is a multiple of 5, by `id`;
6. a deletion vector (format v3, a Puffin blob) for one movie: committed by hand, as a
   manifest entry of a Puffin delete file, since no tool here writes them (shoal must refuse
   it; the iceberg crate does not read deletion vectors).

pyiceberg 0.12 writes no delete files (a merge-on-read delete falls back to copy-on-write),
so snapshots 4 to 6 write theirs with pyarrow (the spec's layout: `file_path` and `pos` with
the reserved field ids for position deletes; the table's `id` column with its field id for
equality deletes) and commit them through pyiceberg's own snapshot producer, with a manifest
writer whose content is `deletes`.

    bash scripts/iceberg.sh scripts/iceberg/write_catalog.py V1.jsonl V2.jsonl FOLDER [WAREHOUSE]

WAREHOUSE is where the table's files go (default FOLDER/warehouse), e.g.
s3://bucket/prefix; S3 is reached as shoal reaches it: AWS_ENDPOINT_URL (path-style
addressing), AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.

Prints one JSON object: the catalog's URI (`sqlite:///FOLDER/catalog.db`), its name, the
table's name, each snapshot's id and the metadata file written after it.
"""

import json
import os
import sys

import uuid

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestWriterV2,
)
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _FastAppendFiles
from pyiceberg.typedef import Record

CATALOG = pa.schema(
    [
        pa.field("id", pa.int64()),
        pa.field("title", pa.string()),
        pa.field("year", pa.int32()),
        pa.field("rating", pa.float64()),
        pa.field("runtime_min", pa.int32()),
        pa.field("country", pa.string()),
        pa.field("genres", pa.list_(pa.string())),
        pa.field("tags", pa.list_(pa.string())),
    ]
)

# Movies before this year are deleted in the third snapshot.
DELETE_BEFORE = 1925
# Movies whose id is a multiple of this are deleted by position in the fourth snapshot...
POSITION_DELETE_EVERY = 7
# ...and of this by equality in the fifth.
EQUALITY_DELETE_EVERY = 5

# The spec's reserved field ids of a position delete file's columns.
FILE_PATH_ID = 2147483546
POS_ID = 2147483545


class DeleteManifestWriter(ManifestWriterV2):
    """A v2 manifest writer whose manifest holds delete files."""

    def content(self):
        return ManifestContent.DELETES

    @property
    def _meta(self):
        return {**super()._meta, "content": "deletes"}


class AddDeleteFiles(_FastAppendFiles):
    """pyiceberg's fast append (every existing manifest kept), writing its added files into a
    delete manifest: a merge-on-read delete."""

    def new_manifest_writer(self, spec):
        metadata = self._transaction.table_metadata
        return DeleteManifestWriter(
            spec, metadata.schema(), self.new_manifest_output(), self._snapshot_id, self._compression
        )


def commit_delete_file(table, data_file):
    with table.transaction() as tx:
        producer = AddDeleteFiles(Operation.DELETE, tx, table.io)
        producer.append_data_file(data_file)
        producer.commit()


def with_id(field, field_id):
    return field.with_metadata({b"PARQUET:field_id": str(field_id).encode()})


def write_parquet(table, rows, kind):
    path = table.location_provider().new_data_location(f"{kind}-{uuid.uuid4()}.parquet")
    with table.io.new_output(path).create() as out:
        pq.write_table(rows, out)
    return path, len(table.io.new_input(path))


def delete_file(table, content, path, size, count, file_format=FileFormat.PARQUET, **extra):
    return DataFile.from_args(
        content=content,
        file_path=path,
        file_format=file_format,
        partition=Record(),
        record_count=count,
        file_size_in_bytes=size,
        spec_id=table.metadata.default_spec_id,
        **extra,
    )


def data_files(table):
    snapshot = table.current_snapshot()
    for manifest in snapshot.manifests(table.io):
        if manifest.content == ManifestContent.DATA:
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                yield entry.data_file.file_path


def delete_by_position(table, every):
    """Deletes the rows whose id is a multiple of `every`, by file and position."""
    paths, positions = [], []
    for path in sorted(data_files(table)):
        with table.io.new_input(path).open() as data:
            ids = pq.read_table(data, columns=["id"]).column("id").to_pylist()
        for pos, movie in enumerate(ids):
            if movie % every == 0:
                paths.append(path)
                positions.append(pos)
    schema = pa.schema(
        [
            with_id(pa.field("file_path", pa.string(), nullable=False), FILE_PATH_ID),
            with_id(pa.field("pos", pa.int64(), nullable=False), POS_ID),
        ]
    )
    rows = pa.table({"file_path": paths, "pos": positions}, schema=schema)
    path, size = write_parquet(table, rows, "position-deletes")
    content = DataFileContent.POSITION_DELETES
    commit_delete_file(table, delete_file(table, content, path, size, len(paths)))


def delete_by_equality(table, every, ids):
    """Deletes the movies whose id is a multiple of `every`, by `id`."""
    field_id = table.schema().find_field("id").field_id
    deleted = [movie for movie in ids if movie % every == 0]
    schema = pa.schema([with_id(pa.field("id", pa.int64(), nullable=False), field_id)])
    rows = pa.table({"id": deleted}, schema=schema)
    path, size = write_parquet(table, rows, "equality-deletes")
    content = DataFileContent.EQUALITY_DELETES
    data_file = delete_file(table, content, path, size, len(deleted), equality_ids=[field_id])
    commit_delete_file(table, data_file)


def add_deletion_vector(table):
    """Commits a manifest entry of a deletion vector: a Puffin delete file (its blob is not
    written: no tool here writes deletion vectors; a reader must refuse it before reading)."""
    path = table.location_provider().new_data_location(f"dv-{uuid.uuid4()}.puffin")
    content = DataFileContent.POSITION_DELETES
    commit_delete_file(table, delete_file(table, content, path, 0, 1, FileFormat.PUFFIN))


def read(path):
    with open(path) as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return pa.Table.from_pylist(rows, schema=CATALOG)


def s3_properties():
    """pyiceberg's S3 settings from the variables shoal reads."""
    names = {
        "AWS_ENDPOINT_URL": "s3.endpoint",
        "AWS_REGION": "s3.region",
        "AWS_ACCESS_KEY_ID": "s3.access-key-id",
        "AWS_SECRET_ACCESS_KEY": "s3.secret-access-key",
    }
    return {prop: os.environ[var] for var, prop in names.items() if os.environ.get(var)}


def main():
    v1, v2, folder = sys.argv[1:4]
    folder = os.path.abspath(folder)
    os.makedirs(os.path.join(folder, "warehouse"), exist_ok=True)
    warehouse = sys.argv[4] if len(sys.argv) > 4 else f"file://{folder}/warehouse"
    uri = f"sqlite:///{folder}/catalog.db"
    catalog = SqlCatalog("default", uri=uri, warehouse=warehouse, **s3_properties())
    catalog.create_namespace("shop")
    table = catalog.create_table("shop.movies", schema=CATALOG)
    snapshots = []

    def done():
        table.refresh()
        snapshots.append(
            {
                "id": table.current_snapshot().snapshot_id,
                "metadata": table.metadata_location,
            }
        )

    table.append(read(v1))
    done()
    table.overwrite(read(v2))
    done()
    table.delete(f"year < {DELETE_BEFORE}")
    done()
    delete_by_position(table, POSITION_DELETE_EVERY)
    done()
    ids = [movie["id"] for movie in read(v2).to_pylist() if movie["year"] >= DELETE_BEFORE]
    delete_by_equality(table, EQUALITY_DELETE_EVERY, ids)
    done()
    add_deletion_vector(table)
    done()
    print(
        json.dumps(
            {
                "uri": uri,
                "catalog": "default",
                "table": "shop.movies",
                "delete_before": DELETE_BEFORE,
                "position_delete_every": POSITION_DELETE_EVERY,
                "equality_delete_every": EQUALITY_DELETE_EVERY,
                "snapshots": snapshots,
            }
        )
    )


if __name__ == "__main__":
    main()
