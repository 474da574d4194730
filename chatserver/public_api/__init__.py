"""The public REST API at /api/v2: site API tokens with scopes, one module per object, OpenAPI."""
