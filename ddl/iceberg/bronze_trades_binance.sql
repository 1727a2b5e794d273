-- Cold twin of the ClickHouse table bronze_trades_binance (Spark SQL; TIMESTAMP = UTC instant).
CREATE TABLE IF NOT EXISTS cold.bronze_trades_binance (
    event_time      TIMESTAMP      NOT NULL,
    symbol          STRING         NOT NULL,
    trade_id        BIGINT         NOT NULL,
    price           DECIMAL(18, 8) NOT NULL,
    quantity        DECIMAL(18, 8) NOT NULL,
    trade_time      TIMESTAMP      NOT NULL,
    is_buyer_maker  BOOLEAN        NOT NULL,
    ingested_at     TIMESTAMP      NOT NULL
)
USING iceberg
PARTITIONED BY (days(trade_time))
TBLPROPERTIES (
    'format-version' = '2',
    'write.parquet.compression-codec' = 'zstd',
    'write.parquet.compression-level' = '3',
    'write.metadata.delete-after-commit.enabled' = 'true',
    'write.metadata.previous-versions-max' = '50'
);
