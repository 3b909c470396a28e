"""The names the product gives its endpoint, its variants and its model package group.

Variants are named by role, not by model: `production` always serves the callers' traffic, `candidate`
is the model under evaluation (an A/B production variant or a shadow). Sensors and guardrails therefore
never need to know version names.
"""

ENDPOINT_NAME = "rtinfer-fraud"
PACKAGE_GROUP = "rtinfer-fraud"
PRODUCTION = "production"
CANDIDATE = "candidate"

# SageMaker's rule for endpoint, variant and package-group names.
RESOURCE_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
