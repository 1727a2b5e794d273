-- Cold twin of the ClickHouse table bronze_trades_kraken (Spark SQL; TIMESTAMP = UTC instant).
CREATE TABLE IF NOT EXISTS cold.bronze_trades_kraken (
    pair         STRING         NOT NULL COMMENT 'e.g. XBT/USD, the Kraken pair name',
    price        DECIMAL(18, 8) NOT NULL COMMENT 'trade price in the quote currency',
    volume       DECIMAL(18, 8) NOT NULL COMMENT 'traded volume in the base currency',
    time         TIMESTAMP      NOT NULL COMMENT 'trade time (native: float seconds), UTC: the offload window is cut on this column',
    side         STRING         NOT NULL COMMENT 'b | s (taker): buy or sell',
    order_type   STRING         NOT NULL COMMENT 'm (market) | l (limit): the taker order type',
    misc         STRING         NOT NULL COMMENT 'Kraken miscellaneous info field, usually empty',
    trade_id     BIGINT         NOT NULL COMMENT 'Kraken trade id, unique per pair',
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
