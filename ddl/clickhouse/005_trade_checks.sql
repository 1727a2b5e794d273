-- The rule a trade must pass to enter Silver, defined once for every exchange. It returns '' for a
-- valid trade, else every rule it breaks, separated by '; '. Each exchange's Silver view keeps the
-- trades where it is '' and its rejected view sends the others to `rejected_trades` with it.
--
-- ClickHouse stores a NULL sent for a non-Nullable column as the column's default (0, '',
-- 1970-01-01), so a missing field shows as one of these reasons:
--   * price <= 0; quantity <= 0 (a zero quantity is rejected too: no asset changed hands);
--   * empty symbol; trade_id <= 0 (the default of a missing id);
--   * trade time before 2009-01-01 (includes a missing one: 1970-01-01);
--   * trade time more than 10 minutes after it was ingested (a clock in the future);
--   * the exchange's own rules, passed as an array (e.g. a side that is not b | s).
-- A missing Binance `is_buyer_maker` (Bool, default false) cannot be told from `false`.
CREATE FUNCTION IF NOT EXISTS coldtier_trade_problems AS
    (in_symbol, in_trade_id, in_price, in_quantity, in_trade_time, in_ingested_at, exchange_problems) ->
    arrayStringConcat(
        arrayFilter(
            problem -> problem != '',
            arrayConcat(
                [
                    if(in_price <= 0, 'price <= 0', ''),
                    if(in_quantity <= 0, 'quantity <= 0', ''),
                    if(in_symbol = '', 'empty symbol', ''),
                    if(in_trade_id <= 0, 'trade_id <= 0 (missing)', ''),
                    if(
                        in_trade_time < toDateTime64('2009-01-01 00:00:00', 6, 'UTC'),
                        'trade time before 2009 (or missing)',
                        ''
                    ),
                    if(
                        in_trade_time > in_ingested_at + INTERVAL 10 MINUTE,
                        'trade time more than 10 minutes after ingestion',
                        ''
                    )
                ],
                exchange_problems
            )
        ),
        '; '
    );
