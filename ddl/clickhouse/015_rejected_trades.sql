-- Quarantine: every Bronze trade that breaks `coldtier_trade_problems` lands here instead of in
-- Silver, with the reasons. Per exchange and window of trade time: Bronze (FINAL) = Silver (FINAL)
-- + rejected (FINAL); the `bronze_equals_silver_plus_rejected` check proves it. Fields as received.
CREATE TABLE IF NOT EXISTS rejected_trades
(
    exchange      LowCardinality(String)  COMMENT 'binance | kraken | coinbase',
    symbol        String                  COMMENT 'the native symbol as received (BTCUSDT, XBT/USD, BTC-USD)',
    trade_id      Int64,
    price         Decimal(18, 8),
    quantity      Decimal(18, 8),
    trade_time    DateTime64(6, 'UTC')    COMMENT 'as received (1970-01-01 when the feed sent none)',
    reason        String                  COMMENT 'every rule the trade breaks, separated by semicolons',
    ingested_at   DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(trade_time)
ORDER BY (trade_time, exchange, symbol, trade_id)
-- Parts replaced by a merge are removed about a second after start-up, not 30-40 s: an embedded
-- warm tier (chDB) lives for seconds per command, so with the default they were never removed and
-- every start-up loaded more of them (see coldtier_assets/offload/bootstrap.py).
SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
