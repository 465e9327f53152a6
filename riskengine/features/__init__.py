"""Features as of a date: what the model sees about each entity, and how to say it in words.

For every (source, type) of event: counts over each window and over all history, sums and
the latest `value` where the type has values, and days since the last event; plus static
entity columns; counts and densities of area events (lat, lon, no entity) around each
entity with coordinates ([features.nearby], riskengine.features._nearby); and, optionally,
a ready-made feature table. Only events dated strictly
before the as-of date count, so a row never sees its own future.

    fs = build_features(entities, events, ["2024-04-01"], spec.features)
    fs.table                      # entity_id, as_of, features
    describe(fs.info.iloc[3], 9)  # "9 noise complaints in the last 12 months"
"""

from riskengine.features._build import (COUNT_DTYPE, DAYS_DTYPE, EVENT_STATS, INFO_COLUMNS, FeatureSet, as_of_dates, assemble,
                                        build_features, check_event_types, check_reference, event_plan, feature_columns,
                                        ready_values, static_info)
from riskengine.features._sql import event_query, in_dialect, types_query
from riskengine.features._nearby import (NEARBY_STATS, NO_COORDINATES, NearbyGrid, nearby_info_for, nearby_plan,
                                         nearby_query, split_area_events, wants_nearby)
from riskengine.features._cases import OUTCOME_SOURCE, build_case_features, case_keys, case_rows
from riskengine.features._phrases import column_label, default_label, describe, period
from riskengine.features._ready import join_as_of, load_ready_table, match_known_ids

__all__ = ["COUNT_DTYPE", "DAYS_DTYPE", "EVENT_STATS", "INFO_COLUMNS", "FeatureSet", "as_of_dates", "assemble", "build_case_features",
           "build_features", "check_event_types", "check_reference", "column_label", "default_label", "describe", "event_plan",
           "event_query", "feature_columns", "in_dialect", "join_as_of", "load_ready_table", "match_known_ids",
           "period", "ready_values", "static_info", "types_query",
           "NEARBY_STATS", "NO_COORDINATES", "NearbyGrid", "nearby_info_for", "nearby_plan", "nearby_query",
           "split_area_events", "wants_nearby", "OUTCOME_SOURCE", "case_keys", "case_rows"]
