"""Helpers shared by several test folders (tests/flows, tests/reliability): the temporary Prefect
API (`prefect`), onboarding synthetic practices and starting the sandbox clearinghouse (`world`),
and snapshots of an onboarded database (`database`). Not tests themselves; the fixtures in
`prefect` are registered for every folder by tests/conftest.py."""
