-- Coinbase Exchange `matches` channel: trade_id, product_id, price, size, side, time.
-- `side` is the maker order's side, so the taker's side is the opposite.
CREATE TABLE IF NOT EXISTS bronze_trades_coinbase
(
    trade_id     Int64,
    product_id   LowCardinality(String) COMMENT 'e.g. BTC-USD',
    price        Decimal(18, 8),
    size         Decimal(18, 8),
    side         LowCardinality(String) COMMENT 'maker side: buy | sell',
    time         DateTime64(6, 'UTC'),
    ingested_at  DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(time)
ORDER BY (time, product_id, trade_id)
-- Parts replaced by a merge are removed about a second after start-up, not 30-40 s: an embedded
-- warm tier (chDB) lives for seconds per command, so with the default they were never removed and
-- every start-up loaded more of them (see coldtier_assets/offload/bootstrap.py).
SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_silver_from_coinbase TO silver_trades AS
SELECT
    'coinbase' AS exchange,
    replaceOne(product_id, '-', '/') AS symbol,
    trade_id,
    price,
    size AS quantity,
    toDecimal128(price, 8) * size AS quote_amount,
    if(side = 'buy', 'sell', 'buy') AS side,
    time AS trade_time,
    ingested_at
FROM bronze_trades_coinbase
WHERE coldtier_trade_problems(
    bronze_trades_coinbase.product_id, bronze_trades_coinbase.trade_id, bronze_trades_coinbase.price,
    bronze_trades_coinbase.size, bronze_trades_coinbase.time, bronze_trades_coinbase.ingested_at,
    [if(bronze_trades_coinbase.side NOT IN ('buy', 'sell'), 'side not buy | sell (or missing)', '')]
) = '';

-- Trades that break the rule: quarantined with the reasons, never in Silver.
CREATE MATERIALIZED VIEW IF NOT EXISTS mv_rejected_from_coinbase TO rejected_trades AS
SELECT
    'coinbase' AS exchange,
    product_id AS symbol,
    trade_id,
    price,
    size AS quantity,
    time AS trade_time,
    coldtier_trade_problems(
        bronze_trades_coinbase.product_id, bronze_trades_coinbase.trade_id, bronze_trades_coinbase.price,
        bronze_trades_coinbase.size, bronze_trades_coinbase.time, bronze_trades_coinbase.ingested_at,
        [if(bronze_trades_coinbase.side NOT IN ('buy', 'sell'), 'side not buy | sell (or missing)', '')]
    ) AS reason,
    ingested_at
FROM bronze_trades_coinbase
WHERE reason != '';
