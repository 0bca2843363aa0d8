"""Azure as ACR Guard reaches it: ``arm`` (the registry clients and the one retry layer),
``errors`` (what ARM's answers mean), ``children`` (child collections), ``credential``,
``resource_graph`` (paged, quota-aware queries), ``resource_ids`` (parsing and clipping IDs) and
``local`` (nothing listening on this machine). Nothing is imported here: each module loads on first
use, which keeps the SDK off the cold-start path until a call needs it."""
