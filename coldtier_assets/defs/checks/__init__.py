"""Asset checks of the cold assets and the latest results Dagster recorded for them."""
