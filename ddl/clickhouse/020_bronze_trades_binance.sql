-- Binance spot trade stream (`<symbol>@trade`): e, E, s, t, p, q, T, m — as received.
CREATE TABLE IF NOT EXISTS bronze_trades_binance
(
    event_time      DateTime64(3, 'UTC')   COMMENT 'E: event time (ms)',
    symbol          LowCardinality(String) COMMENT 's: e.g. BTCUSDT',
    trade_id        Int64                  COMMENT 't',
    price           Decimal(18, 8)         COMMENT 'p',
    quantity        Decimal(18, 8)         COMMENT 'q',
    trade_time      DateTime64(3, 'UTC')   COMMENT 'T: trade time (ms)',
    is_buyer_maker  Bool                   COMMENT 'm',
    ingested_at     DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(trade_time)
ORDER BY (trade_time, symbol, trade_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_silver_from_binance TO silver_trades AS
SELECT
    'binance' AS exchange,
    multiIf(
        endsWith(symbol, 'USDT'), concat(substring(symbol, 1, length(symbol) - 4), '/USDT'),
        endsWith(symbol, 'USDC'), concat(substring(symbol, 1, length(symbol) - 4), '/USDC'),
        concat(substring(symbol, 1, length(symbol) - 3), '/', substring(symbol, length(symbol) - 2))
    ) AS symbol,
    trade_id,
    price,
    quantity,
    toDecimal128(price, 8) * quantity AS quote_amount,
    if(is_buyer_maker, 'sell', 'buy') AS side,
    toDateTime64(trade_time, 6, 'UTC') AS trade_time,
    ingested_at
FROM bronze_trades_binance;
