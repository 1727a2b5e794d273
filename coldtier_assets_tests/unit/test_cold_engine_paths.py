"""How cold reads name the committed metadata file, whichever engine wrote it."""

from coldtier_assets.offload.cold_engine import relative_metadata_path


def test_the_metadata_path_is_relative_to_the_table_whichever_engine_wrote_it() -> None:
    location = "file:///var/lib/coldtier/warehouse/cold/silver_trades"
    pyiceberg = f"{location}/metadata/00003-a.metadata.json"
    spark = "file:/var/lib/coldtier/warehouse/cold/silver_trades/metadata/00004-b.metadata.json"
    assert relative_metadata_path(location, pyiceberg) == "metadata/00003-a.metadata.json"
    assert relative_metadata_path(location, spark) == "metadata/00004-b.metadata.json"
    s3 = "s3://lake/warehouse/cold/silver_trades"
    assert (
        relative_metadata_path(s3, f"{s3}/metadata/00001-c.metadata.json") == "metadata/00001-c.metadata.json"
    )
    elsewhere = "s3://other/metadata/00001-c.metadata.json"
    assert relative_metadata_path(s3, elsewhere) == elsewhere
