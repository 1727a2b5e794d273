-- Cold twin of the ClickHouse table bronze_trades_kraken (Spark SQL; TIMESTAMP = UTC instant).
CREATE TABLE IF NOT EXISTS cold.bronze_trades_kraken (
    pair         STRING         NOT NULL,
    price        DECIMAL(18, 8) NOT NULL,
    volume       DECIMAL(18, 8) NOT NULL,
    time         TIMESTAMP      NOT NULL,
    side         STRING         NOT NULL,
    order_type   STRING         NOT NULL,
    misc         STRING         NOT NULL,
    trade_id     BIGINT         NOT NULL,
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
