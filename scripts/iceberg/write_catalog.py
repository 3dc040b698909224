"""Writes the example catalog as an Apache Iceberg table, as a warehouse does, with pyiceberg:
a SQL catalog on SQLite in a folder, data and metadata files in that folder or under an S3
location, and three snapshots:

1. an append of v1.jsonl;
2. an overwrite with v2.jsonl;
3. a delete of the movies older than 1925.

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

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog

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
    print(
        json.dumps(
            {
                "uri": uri,
                "catalog": "default",
                "table": "shop.movies",
                "delete_before": DELETE_BEFORE,
                "snapshots": snapshots,
            }
        )
    )


if __name__ == "__main__":
    main()
