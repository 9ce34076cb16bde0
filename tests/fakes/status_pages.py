"""Vendor status pages on loopback: Statuspage v2 summary.json for Anthropic and OpenAI, RSS for AWS and Azure.

Each page's body, HTTP status and delay can be set per test; by default every vendor is operational.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackService

OPERATIONAL = {"status": {"indicator": "none", "description": "All Systems Operational"}, "incidents": []}


def statuspage(indicator: str, description: str, incidents: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "page": {"name": "vendor"},
        "status": {"indicator": indicator, "description": description},
        "components": [],
        "incidents": [{"name": name, "status": "investigating"} for name in incidents],
    }


def rss(items: list[tuple[str, str, str]] = ()) -> bytes:  # type: ignore[assignment]
    """Items of (RFC 822 date, title, description)."""
    body = "".join(
        f"<item><title>{title}</title><pubDate>{date}</pubDate><description>{text}</description></item>"
        for date, title, text in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>status</title>{body}</channel></rss>'.encode()


@dataclass
class Page:
    body: bytes
    status: int = 200
    delay: float = 0.0
    content_type: str = "application/json"


class FakeStatusPages(LoopbackService):
    def __init__(self) -> None:
        self.pages: dict[str, Page] = {
            "/anthropic/api/v2/summary.json": Page(json.dumps(OPERATIONAL).encode()),
            "/openai/api/v2/summary.json": Page(json.dumps(OPERATIONAL).encode()),
            "/aws/rss/bedrock-us-east-1.rss": Page(rss(), content_type="application/rss+xml"),
            "/azure/status/feed/": Page(rss(), content_type="application/rss+xml"),
        }
        self.hits: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.hits.append(self.path)
                page = fake.pages.get(self.path, Page(b"not found", 404, content_type="text/plain"))
                time.sleep(page.delay)
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                self.end_headers()
                self.wfile.write(page.body)

        self.serve(Handler)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def settings(self) -> dict[str, str]:
        return {
            "anthropic_status_url": self.url("/anthropic/api/v2/summary.json"),
            "openai_status_url": self.url("/openai/api/v2/summary.json"),
            "aws_status_feeds_url": self.url("/aws/rss/"),
            "bedrock_regions": "us-east-1",
            "azure_status_url": self.url("/azure/status/feed/"),
        }

    def set(self, path: str, body: Any, status: int = 200, delay: float = 0.0) -> None:
        page = self.pages[path]
        page.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        page.status, page.delay = status, delay
