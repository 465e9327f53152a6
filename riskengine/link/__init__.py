"""Golden records: data quality and record linkage (the `link` stage).

Rows that carry a usable UPRN attach to it; the rest are matched with splink by the kinds of
their fields: addresses of any country (_address.py), the postcode and the town (or, with
`match_on = "person"`, names, date of birth and postcode: _people.py); a `kind = "link"` spec links any tables by the kinds of their fields, or
deduplicates them (run_job: _fields.py, _match.py, _job.py; splink's settings for any backend
come from `splink_settings`); person identifiers are pseudonymised before anything leaves; a golden record per entity
states which source won each field; a quality report describes every source.


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

from riskengine._lazy import lazy_names

_WHERE = {"KeyIndex": "_exact", "exact_keys": "_exact", "FIELD_KINDS": "_fields", "JobResult": "_job", "job_accuracy": "_job", "read_job_tables": "_job", "read_truth": "_job", "run_job": "_job", "build_fields": "_job", "prepare_table": "_job", "blocking_rules": "_fields", "splink_settings": "_match", "comparison_vectors": "_pairs", "LinkResult": "_link", "link": "_link", "PROVENANCE": "_metrics", "linkage_accuracy": "_metrics", "normalise_postcode": "_normalise", "parse_address": "_address", "address_parts": "_address", "PseudonymKey": "_pseudonymise", "hash_value": "_pseudonymise", "load_key": "_pseudonymise", "pseudonymise": "_pseudonymise", "keyed_ids": "_pseudonymise", "quality_report": "_quality", "read_borough": "_read", "read_spec_sources": "_read", "Leak": "_scan", "pseudonymisation_scan": "_scan", "RULES": "_survivorship", "golden_records": "_survivorship"}
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
