-- Silver: one normalized schema for every exchange. Filled by the materialized views that sit
-- beside each Bronze table. ReplacingMergeTree on the natural key collapses resent trades; read
-- with FINAL. `side` is the taker's side.
CREATE TABLE IF NOT EXISTS silver_trades
(
    exchange      LowCardinality(String)  COMMENT 'binance | kraken | coinbase',
    symbol        LowCardinality(String)  COMMENT 'canonical BASE/QUOTE, e.g. BTC/USDT',
    trade_id      Int64,
    price         Decimal(18, 8),
    quantity      Decimal(18, 8),
    quote_amount  Decimal(38, 16)         COMMENT 'price * quantity, exact',
    side          LowCardinality(String)  COMMENT 'taker side: buy | sell',
    trade_time    DateTime64(6, 'UTC'),
    ingested_at   DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(trade_time)
ORDER BY (trade_time, exchange, symbol, trade_id)
-- Parts replaced by a merge are removed about a second after start-up, not 30-40 s: an embedded
-- warm tier (chDB) lives for seconds per command, so with the default they were never removed and
-- every start-up loaded more of them (see coldtier_assets/offload/bootstrap.py).
SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
