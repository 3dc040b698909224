"""Writes catalogs (JSON lines, as examples/catalog/v1.jsonl) as Parquet data sets
partitioned by a column, the way a warehouse batch job does: Spark in local mode,
`partitionBy`, snappy part files with their `.crc` side files and `_SUCCESS`.

    bash scripts/spark.sh scripts/spark/write_catalog.py [--partition-by year] IN OUT [IN OUT ...]

Each OUT folder is replaced if it exists. One Spark session writes every pair (a session
takes most of the ~10 s a job costs). Spark writes to S3 through the hadoop-aws connector,
which comes from Maven Central; the tests upload the folder instead (see
tools/tests/warehouse_spark.rs).
"""

import argparse
import os

from pyspark.sql import SparkSession
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

# The catalog's columns with the types a warehouse table would declare (Spark would
# otherwise infer every integer as a long).
CATALOG = StructType(
    [
        StructField("id", LongType()),
        StructField("title", StringType()),
        StructField("year", IntegerType()),
        StructField("rating", DoubleType()),
        StructField("runtime_min", IntegerType()),
        StructField("country", StringType()),
        StructField("genres", ArrayType(StringType())),
        StructField("tags", ArrayType(StringType())),
    ]
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partition-by", default="year")
    parser.add_argument("pairs", nargs="+", metavar="IN OUT")
    args = parser.parse_args()
    if len(args.pairs) % 2:
        parser.error("give an output folder for every input file")
    spark = (
        SparkSession.builder.master("local[*]")
        .appName("shoal-write-catalog")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    for source, target in zip(args.pairs[::2], args.pairs[1::2]):
        movies = spark.read.schema(CATALOG).json(os.path.abspath(source))
        writer = movies.write.mode("overwrite")
        if args.partition_by:
            writer = writer.partitionBy(args.partition_by)
        writer.parquet(os.path.abspath(target))
    spark.stop()


if __name__ == "__main__":
    main()
