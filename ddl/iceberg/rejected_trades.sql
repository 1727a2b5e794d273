-- Cold twin of rejected_trades: quarantined trades (as received) with every rule they break.
CREATE TABLE IF NOT EXISTS cold.rejected_trades (
    exchange      STRING          NOT NULL,
    symbol        STRING          NOT NULL,
    trade_id      BIGINT          NOT NULL,
    price         DECIMAL(18, 8)  NOT NULL,
    quantity      DECIMAL(18, 8)  NOT NULL,
    trade_time    TIMESTAMP       NOT NULL,
    reason        STRING          NOT NULL,
    ingested_at   TIMESTAMP       NOT NULL
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
