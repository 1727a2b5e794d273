-- Cold twin of silver_trades: every exchange's trades in one normalized schema.
CREATE TABLE IF NOT EXISTS cold.silver_trades (
    exchange      STRING          NOT NULL COMMENT 'binance | kraken | coinbase',
    symbol        STRING          NOT NULL COMMENT 'canonical BASE/QUOTE, e.g. BTC/USDT',
    trade_id      BIGINT          NOT NULL COMMENT 'the exchange trade id, unique per exchange and symbol',
    price         DECIMAL(18, 8)  NOT NULL COMMENT 'trade price in the quote asset',
    quantity      DECIMAL(18, 8)  NOT NULL COMMENT 'traded quantity in the base asset',
    quote_amount  DECIMAL(38, 16) NOT NULL COMMENT 'price * quantity, exact',
    side          STRING          NOT NULL COMMENT 'taker side: buy | sell',
    trade_time    TIMESTAMP       NOT NULL COMMENT 'trade time, UTC: the offload window is cut on this column',
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
