"""Cases: the validated, versioned document that describes a run (TOML on disk)."""

from engine.case.load import case_json_schema, case_to_toml, load_case, parse_case, save_case
from engine.case.schema import CASE_VERSION, Case

__all__ = ["CASE_VERSION", "Case", "case_json_schema", "case_to_toml", "load_case", "parse_case", "save_case"]
