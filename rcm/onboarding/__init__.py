"""Practice onboarding: one YAML file per client practice (docs/onboarding.md).

`load_onboarding_file` parses, `validate_onboarding` lists every problem, `apply_onboarding`
validates again and writes the practice, its providers, enrollments and payers.
"""

from rcm.onboarding.apply import (
    SECRET_REF_POLICY_KEY,
    OnboardingResult,
    apply_onboarding,
    clearinghouse_names_in_config,
    practice_values,
)
from rcm.onboarding.schema import (
    AddressSpec,
    ClearinghouseSpec,
    EnrollmentSpec,
    OnboardingDocument,
    PoliciesSpec,
    PracticeSpec,
    ProviderSpec,
    load_onboarding_file,
    parse_onboarding,
)
from rcm.onboarding.validate import OnboardingProblem, validate_onboarding

__all__ = [
    "SECRET_REF_POLICY_KEY",
    "AddressSpec",
    "ClearinghouseSpec",
    "EnrollmentSpec",
    "OnboardingDocument",
    "OnboardingProblem",
    "OnboardingResult",
    "PoliciesSpec",
    "PracticeSpec",
    "ProviderSpec",
    "apply_onboarding",
    "clearinghouse_names_in_config",
    "load_onboarding_file",
    "parse_onboarding",
    "practice_values",
    "validate_onboarding",
]
