"""Every scrub rule, by topic. Importing this package registers them in rcm.scrub.registry."""

import rcm.scrub.rules.coding
import rcm.scrub.rules.diagnosis
import rcm.scrub.rules.ncci
import rcm.scrub.rules.payer
import rcm.scrub.rules.required
import rcm.scrub.rules.service  # noqa: F401
