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
ORDER BY (trade_time, symbol, trade_id)
-- Parts replaced by a merge are removed about a second after start-up, not 30-40 s: an embedded
-- warm tier (chDB) lives for seconds per command, so with the default they were never removed and
-- every start-up loaded more of them (see coldtier_assets/offload/bootstrap.py).
SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;

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
FROM bronze_trades_binance
WHERE coldtier_trade_problems(
    bronze_trades_binance.symbol, bronze_trades_binance.trade_id, bronze_trades_binance.price,
    bronze_trades_binance.quantity, bronze_trades_binance.trade_time, bronze_trades_binance.ingested_at,
    [if(bronze_trades_binance.event_time < toDateTime64('2009-01-01 00:00:00', 3, 'UTC'), 'event time before 2009 (or missing)', '')]
) = '';

-- Trades that break the rule: quarantined with the reasons, never in Silver.
CREATE MATERIALIZED VIEW IF NOT EXISTS mv_rejected_from_binance TO rejected_trades AS
SELECT
    'binance' AS exchange,
    symbol,
    trade_id,
    price,
    quantity,
    toDateTime64(bronze_trades_binance.trade_time, 6, 'UTC') AS trade_time,
    coldtier_trade_problems(
        bronze_trades_binance.symbol, bronze_trades_binance.trade_id, bronze_trades_binance.price,
        bronze_trades_binance.quantity, bronze_trades_binance.trade_time, bronze_trades_binance.ingested_at,
        [if(bronze_trades_binance.event_time < toDateTime64('2009-01-01 00:00:00', 3, 'UTC'), 'event time before 2009 (or missing)', '')]
    ) AS reason,
    ingested_at
FROM bronze_trades_binance
WHERE reason != '';
