"""CSV imports from a practice's EHR and practice-management system (docs/import-formats.md).

Each import takes the file's bytes, checks every row before writing anything, rejects the whole
file with every bad row's line number (ImportRejectedError), and is idempotent: importing the
same file again changes nothing. The caller owns the transaction (connectors.db.session_scope).
"""

from rcm.imports.appointments import import_appointments
from rcm.imports.charges import import_charges
from rcm.imports.common import ImportRejectedError, ImportResult, RowProblem, sha256_hex
from rcm.imports.patients import import_patients

IMPORTERS = {
    "patients": import_patients,
    "appointments": import_appointments,
    "charges": import_charges,
}

__all__ = [
    "IMPORTERS",
    "ImportRejectedError",
    "ImportResult",
    "RowProblem",
    "import_appointments",
    "import_charges",
    "import_patients",
    "sha256_hex",
]
