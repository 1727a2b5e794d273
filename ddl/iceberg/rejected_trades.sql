-- Cold twin of rejected_trades: quarantined trades (as received) with every rule they break.
CREATE TABLE IF NOT EXISTS cold.rejected_trades (
    exchange      STRING          NOT NULL COMMENT 'binance | kraken | coinbase',
    symbol        STRING          NOT NULL COMMENT 'the native symbol as received (BTCUSDT, XBT/USD, BTC-USD)',
    trade_id      BIGINT          NOT NULL COMMENT 'the exchange trade id as received (0 when the feed sent none)',
    price         DECIMAL(18, 8)  NOT NULL COMMENT 'trade price as received (0 when the feed sent none)',
    quantity      DECIMAL(18, 8)  NOT NULL COMMENT 'traded quantity as received (0 when the feed sent none)',
    trade_time    TIMESTAMP       NOT NULL COMMENT 'as received (1970-01-01 when the feed sent none); windows are cut on it',
    reason        STRING          NOT NULL COMMENT 'every rule the trade breaks, separated by semicolons',
    ingested_at   TIMESTAMP       NOT NULL COMMENT 'when the Bronze trade was written to ClickHouse, UTC'
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
