-- Cold twin of the ClickHouse table bronze_trades_binance (Spark SQL; TIMESTAMP = UTC instant).
CREATE TABLE IF NOT EXISTS cold.bronze_trades_binance (
    event_time      TIMESTAMP      NOT NULL COMMENT 'E: event time (ms): when Binance sent the trade event, UTC',
    symbol          STRING         NOT NULL COMMENT 's: e.g. BTCUSDT, the Binance symbol without separator',
    trade_id        BIGINT         NOT NULL COMMENT 't: trade id, unique per symbol',
    price           DECIMAL(18, 8) NOT NULL COMMENT 'p: trade price in the quote asset',
    quantity        DECIMAL(18, 8) NOT NULL COMMENT 'q: traded quantity in the base asset',
    trade_time      TIMESTAMP      NOT NULL COMMENT 'T: trade time (ms), UTC: the offload window is cut on this column',
    is_buyer_maker  BOOLEAN        NOT NULL COMMENT 'm: true when the buyer was the maker, so the taker sold',
    ingested_at     TIMESTAMP      NOT NULL COMMENT 'when the trade was written to ClickHouse, UTC'
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
