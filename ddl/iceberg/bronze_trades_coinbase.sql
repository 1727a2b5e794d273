-- Cold twin of the ClickHouse table bronze_trades_coinbase (Spark SQL; TIMESTAMP = UTC instant).
CREATE TABLE IF NOT EXISTS cold.bronze_trades_coinbase (
    trade_id     BIGINT         NOT NULL,
    product_id   STRING         NOT NULL,
    price        DECIMAL(18, 8) NOT NULL,
    size         DECIMAL(18, 8) NOT NULL,
    side         STRING         NOT NULL,
    time         TIMESTAMP      NOT NULL,
    ingested_at  TIMESTAMP      NOT NULL
)
USING iceberg
PARTITIONED BY (days(time))
TBLPROPERTIES (
    'format-version' = '2',
    'write.parquet.compression-codec' = 'zstd',
    'write.parquet.compression-level' = '3',
    'write.metadata.delete-after-commit.enabled' = 'true',
    'write.metadata.previous-versions-max' = '50'
);
