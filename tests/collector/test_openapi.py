"""The served OpenAPI document names exactly the routes the app has."""

from __future__ import annotations

from .conftest import Collector


async def test_openapi_document_matches_the_routes(collector: Collector) -> None:
    status, document = await collector.call("GET", "/api/v1/openapi.json", None)
    assert status == 200 and document["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = {
        (route.method, route.resource.canonical)
        for route in collector.client.app.router.routes()
        if route.method != "HEAD" and not route.resource.canonical.startswith(("/ui/", "/portal/"))
    }  # the UI is not the API
    assert documented == served
    schemas = document["components"]["schemas"]
    refs = {value.rsplit("/", 1)[1] for value in _refs(document) if value.startswith("#/components/schemas/")}
    assert refs <= set(schemas), refs - set(schemas)


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
