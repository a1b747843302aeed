"""The benchmark's set-up: settings, the gateway's config, the workloads, and one measured load."""

from __future__ import annotations

import dataclasses
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from procs import Child, LoadGen, machine_busy_seconds, start_gateway

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = ROOT / "tests" / "data" / "cursor" / "requests"
MASTER_KEY = "sk-bench-master-key"
CHUNKS, CHARS = 20, 24  # content events per response, characters per event


@dataclass
class Run:
    """One measured load: the load generator's statistics and each process's CPU seconds."""

    label: str
    concurrency: int
    result: dict[str, Any]
    cpu: dict[str, float]
    chunks: int
    stream: bool = True

    @property
    def ok(self) -> int:
        return int(self.result["ok"])

    @property
    def rps(self) -> float:
        return float(self.result["rps"])

    @property
    def elapsed(self) -> float:
        return float(self.result["elapsed"])

    @property
    def errors(self) -> int:
        return sum(self.result["errors"].values())

    def ms(self, kind: str, q: str) -> float:
        return float(self.result[f"{kind}_ms"].get(q, float("nan")))

    def cores(self, proc: str) -> float:
        return self.cpu.get(proc, float("nan")) / self.elapsed if self.elapsed else float("nan")

    @property
    def gateway_ms(self) -> float:
        """Gateway CPU milliseconds per request."""
        return (
            self.cpu["gateway"] / self.ok * 1000
            if self.ok and "gateway" in self.cpu
            else float("nan")
        )

    @property
    def gateway_us_per_chunk(self) -> float:
        return self.gateway_ms * 1000 / self.chunks

    def describe(self) -> str:
        cores = " ".join(f"{k} {self.cores(k):.2f}" for k in self.cpu)
        errors = f" ERRORS {self.result['errors']}" if self.errors else ""
        return (
            f"{self.label:<36} c={self.concurrency:<4} {self.rps:8.1f} req/s  "
            f"p50 {self.ms('total', 'p50'):6.2f} ms  p99 {self.ms('total', 'p99'):6.2f} ms  "
            f"cores: {cores}{errors}"
        )


@dataclass
class Settings:
    concurrency: tuple[int, ...] = (1, 10, 50, 200)
    duration: float = 2.5
    warmup: float = 0.5
    max_requests: int = 50_000
    latency_rate: float = 100.0  # requests/s in total for the paced latency runs
    latency_duration: float = 4.0
    hold: tuple[int, ...] = (1000, 5000)
    hold_timeout: float = 60.0
    compare_loops: bool = True
    profile: bool = True
    rounds: int = 3  # the target loads are measured this many times; the median is reported
    keys: int = 200  # virtual keys made for the keys-against-master-key comparison

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            concurrency=(1, 10),
            duration=0.3,
            warmup=0.1,
            max_requests=300,
            latency_rate=50.0,
            latency_duration=0.5,
            hold=(20, 50),
            hold_timeout=15.0,
            compare_loops=False,
            profile=False,
            rounds=2,  # the median path runs too
            keys=5,
        )


def bench_config(upstream: int) -> dict[str, Any]:
    def base(chunks: int, chars: int, delay_ms: int) -> str:
        return f"http://127.0.0.1:{upstream}/p/{chunks}/{chars}/{delay_ms}/v1"

    def model(name: str, litellm: str, api_base: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {
                "model": litellm,
                "api_base": api_base,
                "api_key": "sk-fake-upstream",
            },
        }

    return {
        "model_list": [
            model("gpt-bench", "openai/gpt-4o-mini", base(CHUNKS, CHARS, 0)),
            model("gpt-5-bench", "openai/gpt-5-mini", base(CHUNKS, CHARS, 0)),
            model("claude-bench", "anthropic/claude-sonnet-4-5", base(CHUNKS, CHARS, 0)),
            # one event every 5 ms: each arrives alone, the per-chunk worst case
            model("gpt-paced", "openai/gpt-4o-mini", base(CHUNKS, CHARS, 5)),
            # an event every 20 s: streams that stay open and idle, for the memory test
            model("gpt-idle", "openai/gpt-4o-mini", base(30, 8, 20_000)),
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }


@dataclass
class Workload:
    """One kind of request: where it goes, its body, and how a complete answer ends."""

    label: str
    url: str
    body: bytes | None  # None: a GET
    headers: dict[str, str]
    expect: str
    tls: bool = True
    stream: bool = True
    direct: bool = False  # to the fake itself, not through the gateway
    floor: bool = False  # through the bare aiohttp pass-through (`null_proxy.py`)
    first: str = ""  # the bytes that mark the first content (TTFB); empty: the first body bytes
    keys: tuple[str, ...] = ()  # virtual keys, one per request in turn (else `headers`' own)

    def command(self, cafile: str) -> dict[str, Any]:
        body = None if self.body is None else self.body.decode()
        return {
            "url": self.url,
            "body": body,
            "headers": self.headers,
            "keys": list(self.keys),
            "expect": self.expect,
            "first": self.first,
            "cafile": cafile if self.tls else None,
        }


@dataclass
class Bench:
    settings: Settings
    workdir: Path
    certs: Path
    config: dict[str, Any]
    upstream: Child
    loadgen: LoadGen
    gateway: Child | None = None
    port: int = 0
    tls: bool = True
    null_proxy: Child | None = None  # the floor: see `null_proxy.py`
    null_port: int = 0
    upstream_port: int = 0

    @property
    def cafile(self) -> str:
        return str(self.certs / "ca.pem")

    def start_gateway(
        self, name: str, extra: list[str] | None = None, tls: bool = True, workers: int = 1
    ) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        cfg = self.workdir / "config.yaml"
        cfg.write_bytes(orjson.dumps(self.config, option=orjson.OPT_INDENT_2))  # JSON is YAML
        self.gateway, self.port = start_gateway(
            name, self.workdir, cfg, self.certs, extra=extra, tls=tls, workers=workers
        )
        self.tls = tls

    # -- workloads ------------------------------------------------------------------------

    def cursor(self, model: str, dialect: str, stream: bool) -> Workload:
        """A recorded Cursor request (`tests/data/cursor/requests/`), or with `dialect` "short" a
        one-line chat request, sent to the gateway for `model`."""
        body = cursor_body(dialect, model, stream)
        scheme = "https" if self.tls else "http"
        return Workload(
            f"{dialect} body -> {model}",
            f"{scheme}://127.0.0.1:{self.port}/cursor/chat/completions",
            body,
            {"authorization": f"Bearer {MASTER_KEY}"},
            "[DONE]" if stream else "}",
            tls=self.tls,
            stream=stream,
            first='"content":"' if stream else "",
        )

    def direct(self, model: str, dialect: str, stream: bool) -> Workload:
        """The request the gateway would send upstream for the same Cursor body, sent directly."""
        from litecursor.config import parse
        from litecursor.protocol.inbound import parse_request
        from litecursor.protocol.providers import get_provider

        config = parse(self.config, environ={})
        dep = next(d for d in config.deployments if d.model_name == model)
        req = parse_request(orjson.loads(cursor_body(dialect, model, stream)))
        http = get_provider(dep.adapter).build_request(req, dep.target)
        anthropic = dep.adapter == "anthropic"
        expect = ("message_stop" if anthropic else "[DONE]") if stream else "}"
        # the first event with text (OpenAI's first chunk only carries the role)
        first = ('"text_delta"' if anthropic else '"delta":{"content":"') if stream else ""
        return Workload(
            f"direct {dep.adapter}",
            http.url,
            http.body,
            dict(http.headers),
            expect,
            tls=False,
            stream=stream,
            direct=True,
            first=first,
        )

    def floor(self, model: str, dialect: str = "chat", stream: bool = True) -> Workload:
        """The upstream request of `direct`, sent through the bare aiohttp pass-through: what
        HTTPS in, an aiohttp server and client, and nothing else cost."""
        w = self.direct(model, dialect, stream)
        upstream = w.url.split("/p/", 1)[1]
        w.label = f"bare aiohttp pass-through -> {model}"
        w.url = f"https://127.0.0.1:{self.null_port}/p/{upstream}"
        w.tls, w.direct, w.floor = True, False, True
        return w

    def with_keys(self, w: Workload, keys: tuple[str, ...]) -> Workload:
        """The same requests, each with the next of `keys` instead of the master key."""
        return dataclasses.replace(w, label=f"{w.label} [virtual keys]", keys=keys)

    def make_keys(self, n: int) -> tuple[str, ...]:
        """`n` virtual keys made through `POST /key/generate` on the running gateway, each with
        a budget that resets and rate limits (large enough never to refuse), so every request
        reserves, counts and settles them."""
        ctx = ssl.create_default_context(cafile=self.cafile)
        keys = []
        for i in range(n):
            body = {
                "key_alias": f"bench-{i}",
                "max_budget": 1e6,
                "budget_duration": "30d",
                "rpm_limit": 10**7,
                "tpm_limit": 10**10,
                "max_parallel_requests": 10**5,
            }
            req = urllib.request.Request(
                f"https://127.0.0.1:{self.port}/key/generate",
                data=orjson.dumps(body),
                headers={
                    "authorization": f"Bearer {MASTER_KEY}",
                    "content-type": "application/json",
                },
                method="POST",
            )
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                keys.append(orjson.loads(r.read())["key"])
        return tuple(keys)

    # -- measuring ------------------------------------------------------------------------

    def measure(
        self,
        w: Workload,
        concurrency: int,
        *,
        rate: float = 0.0,
        duration: float | None = None,
        new_connection: bool = False,
        chunks: int = CHUNKS,
    ) -> Run:
        s = self.settings
        cmd = {
            "op": "load",
            **w.command(self.cafile),
            "concurrency": concurrency,
            "duration": duration or s.duration,
            "warmup": s.warmup,
            "max_requests": s.max_requests,
            "rate": rate,
            "new_connection": new_connection,
        }
        proxy = self.null_proxy if w.floor else self.gateway  # "gateway": the proxy in the path
        procs = {"gateway": proxy, "upstream": self.upstream, "loadgen": self.loadgen.child}
        self.loadgen.send(cmd)
        event = self.loadgen.receive()
        if event.get("event") != "measuring":
            raise RuntimeError(f"unexpected answer from the load generator: {event}")
        before = {k: p.cpu() for k, p in procs.items() if p is not None}
        busy = machine_busy_seconds()
        result = self.loadgen.receive()
        cpu = {k: p.cpu() - before[k] for k, p in procs.items() if p is not None and k in before}
        # what else ran meanwhile: other processes on the machine, interrupt handling
        cpu["other"] = max(0.0, machine_busy_seconds() - busy - sum(cpu.values()))
        if w.direct:
            cpu.pop("gateway", None)  # not in the path: its counters only show its idle cost
        run = Run(w.label, concurrency, result, cpu, chunks, w.stream)
        print(f"  {run.describe()}", flush=True)
        return run

    def hold(self, w: Workload, n: int) -> dict[str, Any]:
        proxy = self.null_proxy if w.floor else self.gateway
        assert proxy is not None
        self.loadgen.send(
            {
                "op": "hold",
                **w.command(self.cafile),
                "n": n,
                "ramp": 100,
                "timeout": self.settings.hold_timeout,
            }
        )
        held = self.loadgen.receive()
        held["memory"] = proxy.memory()
        held["cpu_total"] = proxy.cpu()
        self.loadgen.send({"op": "release"})
        self.loadgen.receive()
        time.sleep(0.5)  # let the proxy close the upstream side before the next step
        return held


def cursor_body(dialect: str, model: str, stream: bool) -> bytes:
    """A recorded Cursor request (`tests/data/cursor/requests/`) aimed at `model`; with `dialect`
    "short", a one-line chat request."""
    if dialect == "short":
        short = {"role": "user", "content": "Say hello."}
        return orjson.dumps({"model": model, "stream": stream, "messages": [short]})
    name = "agent-first-turn.json" if dialect == "responses" else "chat-format-legacy.json"
    body = orjson.loads((REQUESTS / name).read_bytes())
    body["model"] = model
    body["stream"] = stream
    if not stream:
        body.pop("stream_options", None)
    return orjson.dumps(body)
