-- Kraken public trade feed: [price, volume, time, side, orderType, misc, trade_id] per pair.
CREATE TABLE IF NOT EXISTS bronze_trades_kraken
(
    pair         LowCardinality(String) COMMENT 'e.g. XBT/USD',
    price        Decimal(18, 8),
    volume       Decimal(18, 8),
    time         DateTime64(6, 'UTC')   COMMENT 'trade time (native: float seconds)',
    side         LowCardinality(String) COMMENT 'b | s (taker)',
    order_type   LowCardinality(String) COMMENT 'm (market) | l (limit)',
    misc         String,
    trade_id     Int64,
    ingested_at  DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(time)
ORDER BY (time, pair, trade_id)
-- Parts replaced by a merge are removed about a second after start-up, not 30-40 s: an embedded
-- warm tier (chDB) lives for seconds per command, so with the default they were never removed and
-- every start-up loaded more of them (see coldtier_assets/offload/bootstrap.py).
SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_silver_from_kraken TO silver_trades AS
SELECT
    'kraken' AS exchange,
    replaceRegexpOne(replaceRegexpOne(pair, '^XBT/', 'BTC/'), '^XDG/', 'DOGE/') AS symbol,
    trade_id,
    price,
    volume AS quantity,
    toDecimal128(price, 8) * volume AS quote_amount,
    if(side = 'b', 'buy', 'sell') AS side,
    time AS trade_time,
    ingested_at
FROM bronze_trades_kraken
WHERE coldtier_trade_problems(
    bronze_trades_kraken.pair, bronze_trades_kraken.trade_id, bronze_trades_kraken.price,
    bronze_trades_kraken.volume, bronze_trades_kraken.time, bronze_trades_kraken.ingested_at,
    [
        if(bronze_trades_kraken.side NOT IN ('b', 's'), 'side not b | s (or missing)', ''),
        if(bronze_trades_kraken.order_type NOT IN ('m', 'l'), 'order_type not m | l (or missing)', '')
    ]
) = '';

-- Trades that break the rule: quarantined with the reasons, never in Silver.
CREATE MATERIALIZED VIEW IF NOT EXISTS mv_rejected_from_kraken TO rejected_trades AS
SELECT
    'kraken' AS exchange,
    pair AS symbol,
    trade_id,
    price,
    volume AS quantity,
    time AS trade_time,
    coldtier_trade_problems(
        bronze_trades_kraken.pair, bronze_trades_kraken.trade_id, bronze_trades_kraken.price,
        bronze_trades_kraken.volume, bronze_trades_kraken.time, bronze_trades_kraken.ingested_at,
        [
            if(bronze_trades_kraken.side NOT IN ('b', 's'), 'side not b | s (or missing)', ''),
            if(bronze_trades_kraken.order_type NOT IN ('m', 'l'), 'order_type not m | l (or missing)', '')
        ]
    ) AS reason,
    ingested_at
FROM bronze_trades_kraken
WHERE reason != '';
