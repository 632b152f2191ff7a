"""Shared plumbing with no domain (layer 0, beside mlcore): API support and the one error format
(core.api, core.exceptions), shared serializer fields (core.serializers), metrics hooks
(core.metrics), JSON logs and request ids (core.logs, core.middleware), form and view helpers
(core.forms, core.views). It imports no other project package."""
