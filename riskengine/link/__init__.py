"""Golden records: data quality and record linkage (the `link` stage).

Rows that carry a usable UPRN attach to it; the rest are matched on normalised address
parts with splink (or, with `match_on = "person"`, on name, date of birth and postcode:
_people.py); a `kind = "link"` spec links any tables by the kinds of their fields, or
deduplicates them (run_job: _fields.py, _match.py, _job.py); person identifiers are pseudonymised before anything leaves; a golden record per entity
states which source won each field; a quality report describes every source.
"""

from riskengine.link._exact import KeyIndex, exact_keys
from riskengine.link._fields import KINDS as FIELD_KINDS
from riskengine.link._job import JobResult, job_accuracy, read_job_tables, read_truth, run_job
from riskengine.link._link import LinkResult, link
from riskengine.link._metrics import PROVENANCE, linkage_accuracy
from riskengine.link._normalise import normalise_postcode, normalise_street, parse_address, parse_addresses
from riskengine.link._pseudonymise import PseudonymKey, hash_value, load_key, pseudonymise
from riskengine.link._quality import quality_report
from riskengine.link._read import read_borough, read_spec_sources
from riskengine.link._scan import Leak, pseudonymisation_scan
from riskengine.link._survivorship import RULES, golden_records

__all__ = [
    "FIELD_KINDS",
    "JobResult",
    "job_accuracy",
    "read_job_tables",
    "read_truth",
    "run_job",
    "KeyIndex",
    "PROVENANCE",
    "RULES",
    "Leak",
    "LinkResult",
    "PseudonymKey",
    "exact_keys",
    "golden_records",
    "hash_value",
    "link",
    "linkage_accuracy",
    "load_key",
    "normalise_postcode",
    "normalise_street",
    "parse_address",
    "parse_addresses",
    "pseudonymisation_scan",
    "pseudonymise",
    "quality_report",
    "read_borough",
    "read_spec_sources",
]
