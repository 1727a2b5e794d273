-- Cold twin of the ClickHouse table bronze_trades_coinbase (Spark SQL; TIMESTAMP = UTC instant).
CREATE TABLE IF NOT EXISTS cold.bronze_trades_coinbase (
    trade_id     BIGINT         NOT NULL COMMENT 'Coinbase trade id, unique per product',
    product_id   STRING         NOT NULL COMMENT 'e.g. BTC-USD, the Coinbase product',
    price        DECIMAL(18, 8) NOT NULL COMMENT 'trade price in the quote currency',
    size         DECIMAL(18, 8) NOT NULL COMMENT 'traded size in the base currency',
    side         STRING         NOT NULL COMMENT 'maker side: buy | sell (the taker took the opposite side)',
    time         TIMESTAMP      NOT NULL COMMENT 'trade time, UTC: the offload window is cut on this column',
    ingested_at  TIMESTAMP      NOT NULL COMMENT 'when the trade was written to ClickHouse, UTC'
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
