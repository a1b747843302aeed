"""The benchmark's figures as a Markdown report: tables, the issue's targets, and the machine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import machine
from bench import Run
from profiling import Profile

PROCS = ("gateway", "upstream", "loadgen", "other")  # "other": the rest of the machine
WORKER_HEAD = [
    "gateway", "req/s", "vs 1 worker", "gateway CPU ms / request",
    "cores: gateway / upstream / loadgen / other", "cores busy",
]  # fmt: skip


def _f(x: float, digits: int = 0) -> str:
    return "n/a" if x != x else f"{x:,.{digits}f}"  # x != x: NaN


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _workers_bound(one: Run, two: Run, cores: int) -> str:
    """What the figures say limited the second worker's gain."""
    busy_one = sum(one.cores(k) for k in PROCS)
    busy_two = sum(two.cores(k) for k in PROCS)
    if cores and busy_one > 0.85 * cores and one.cores("gateway") < 0.7:
        return (
            f"Read this with care: with one worker the machine was already full ({busy_one:.2f} "
            f"of {cores} cores, {one.cores('other'):.2f} of them other processes) and the gateway "
            f"got only {one.cores('gateway'):.2f} of a core, so a second process mostly won a "
            "second share of the scheduler's time from the rest of the machine; the gain says "
            "how the gateway fares on a crowded machine, not how it scales on an idle one."
        )
    if cores and busy_two > 0.85 * cores:
        others = two.cores("upstream") + two.cores("loadgen") + two.cores("other")
        return (
            f"With two workers the machine is **{busy_two:.2f} of its {cores} cores busy**, "
            f"{others:.2f} of them outside the gateway (the fake upstream, the load generator "
            "and whatever else runs on the machine): the second worker only gets what they "
            "leave, so the gain is bounded by the cores, not by the gateway."
        )
    return (
        "The machine still had idle CPU with two workers: the bound is elsewhere (the load "
        "generator's one process, or the kernel spreading connections unevenly)."
    )


def _workers_ceiling(run: Run, cores: int) -> str:
    """The most two workers can gain on this machine by CPU alone: one worker is bound by its
    own core; two by all the cores, which the fake and the load generator share."""
    if not run.ok or not cores:
        return ""
    gateway = run.cpu.get("gateway", 0.0) / run.ok * 1000  # ms of CPU per request
    rest = (run.cpu.get("upstream", 0.0) + run.cpu.get("loadgen", 0.0)) / run.ok * 1000
    if gateway <= 0:
        return ""
    one_core = 1000 / gateway
    all_cores = cores * 1000 / (gateway + rest)
    return (
        f" By CPU alone ({gateway:.2f} ms of gateway and {rest:.2f} ms of fake and load "
        f"generator per request), one worker on an idle machine tops out near {one_core:,.0f} "
        f"req/s (its core) and any number of workers near {all_cores:,.0f} req/s (all "
        f"{cores} cores, shared with the fake and the load generator): at most "
        f"**{min(all_cores, cores * one_core) / one_core:.2f}x** from workers on this machine."
    )


@dataclass
class Report:
    quick: bool = False
    rounds: int = 1  # the target loads: median of this many runs
    runs: dict[str, list[Run]] = field(default_factory=dict)
    memory: list[dict[str, Any]] = field(default_factory=list)
    fd_limit: int = 0
    loop: str = "asyncio"
    loops_note: str = ""
    profile: Profile | None = None
    profile_note: str = ""
    #: the request log and admin page section (requestlog.py), already in Markdown
    requestlog: str = ""
    elapsed: float = 0.0
    #: the virtual keys of the keys-against-master-key comparison
    keys: tuple[str, ...] = ()
    keys_count: int = 0

    def add(self, section: str, run: Run) -> None:
        self.runs.setdefault(section, []).append(run)

    def find(self, section: str, label: str, concurrency: int | None = None) -> Run | None:
        for r in self.runs.get(section, []):
            if r.label.startswith(label) and (concurrency is None or r.concurrency == concurrency):
                return r
        return None

    # -- sections -------------------------------------------------------------------------

    def render(self) -> str:
        lines = ["# litecursor benchmark results", ""]
        if self.quick:
            lines += ["**Quick run (`--quick`): tiny counts, the figures mean nothing.**", ""]
        lines += [
            f"Gateway event loop: **{self.loop}**. Whole run: {self.elapsed:.0f} s. "
            "Produced by `make bench` (`benchmarks/run.py`); README.md says how.",
            "",
        ]
        for part in (
            self._targets,
            self._throughput,
            self._anthropic,
            self._latency,
            self._cpu,
            self._keys,
            self._memory,
            self._tls,
            self._loops,
            self._workers,
            self._where,
            self._profile,
            self._requestlog,
            self._machine,
        ):
            lines += part()
            lines.append("")
        return "\n".join(lines)

    def _requestlog(self) -> list[str]:
        return self.requestlog.splitlines() if self.requestlog else []

    def _throughput(self) -> list[str]:
        runs = self.runs.get("throughput", [])
        concs = sorted({r.concurrency for r in runs})
        rows = []
        for stream, what in ((True, "stream"), (False, "non-stream")):
            for label, name in (
                ("chat body", "chat body via gateway"),
                ("responses body", "Responses body via gateway"),
                ("direct", "direct to the fake (ceiling)"),
            ):
                cells = []
                for c in concs:
                    r = self._throughput_run(stream, label, c)
                    cells.append(_f(r.rps) + (" (errors)" if r and r.errors else "") if r else "-")
                rows.append([f"{what}: {name}", *cells])
            ratio = []
            for c in concs:
                g, d = (
                    self._throughput_run(stream, "chat body", c),
                    self._throughput_run(stream, "direct", c),
                )
                ratio.append(f"{g.rps / d.rps:.0%}" if g and d and d.rps else "-")
            rows.append([f"{what}: gateway / direct (chat body)", *ratio])
        return [
            "## Throughput, requests/s",
            "",
            "Closed loop: each client connection sends its next request when the last one ended; "
            f"keep-alive; {self._chunks()} content events per streamed response.",
            "",
            *_table(["request", *(f"c={c}" for c in concs)], rows),
        ]

    def _throughput_run(self, stream: bool, label: str, c: int) -> Run | None:
        return next(
            (
                r
                for r in self.runs.get("throughput", [])
                if label in r.label and r.concurrency == c and r.stream == stream
            ),
            None,
        )

    def _chunks(self) -> int:
        for runs in self.runs.values():
            return runs[0].chunks
        return 0

    def _anthropic(self) -> list[str]:
        g, d = self.find("anthropic", "chat body"), self.find("anthropic", "direct")
        if not g or not d:
            return []
        f = self.find("anthropic", "bare aiohttp")
        runs = [r for r in (g, f, d) if r is not None]
        rows = [
            [
                r.label,
                _f(r.rps),
                f"{r.rps / d.rps:.0%}",
                _f(r.gateway_ms, 3) if r is not d else "-",
                " / ".join(_f(r.cores(k), 2) for k in PROCS),
            ]
            for r in runs
        ]
        text = [
            f"Gateway throughput is **{g.rps / d.rps:.0%}** of calling the fake directly. "
            f"The gateway is one Python process, so one core at most: at "
            f"{_f(g.gateway_ms, 3)} ms of CPU per request that is about "
            f"{_f(1000 / g.gateway_ms)} requests/s, whatever the rest of the machine does "
            f"(here {_f(sum(g.cores(k) for k in PROCS), 2)} of {os.cpu_count()} cores were busy). "
            f"Half the direct rate would take {_f(1000 / (d.rps / 2), 3)} ms per request."
        ]
        if f is not None:
            text += [
                "",
                f"The bare aiohttp pass-through (`benchmarks/null_proxy.py`: HTTPS in, the same "
                f"aiohttp server and pooled client, bytes copied through, nothing parsed) reaches "
                f"{f.rps / d.rps:.0%} of direct at {_f(f.gateway_ms, 3)} ms of CPU per request: "
                f"that much of every request is the HTTP stack and TLS, before any gateway work. "
                f"litecursor's own work (reading and translating the request, routing, decoding "
                f"and re-encoding each event, the access log) is the other "
                f"{_f(g.gateway_ms - f.gateway_ms, 3)} ms.",
            ]
        return [
            "## Anthropic-shaped streaming at concurrency 20",
            "",
            *self._rounds_note("req/s"),
            *_table(
                ["path", "req/s", "of direct", "proxy CPU ms/req", "cores: " + " / ".join(PROCS)],
                rows,
            ),
            "",
            *text,
        ]

    def _rounds_note(self, by: str) -> list[str]:
        if self.rounds < 2:
            return []
        return [
            f"Each path was measured {self.rounds} times, the paths taking turns; each row is "
            f"its median run by {by}.",
            "",
        ]

    def _latency(self) -> list[str]:
        rows = []
        for model, direct in (
            ("gpt-bench", "direct openai_chat"),
            ("claude-bench", "direct anthropic"),
        ):
            g, d = self.find("latency", f"chat body -> {model}"), self.find("latency", direct)
            if not g or not d:
                continue
            f = self.find("latency", f"bare aiohttp pass-through -> {model}")
            for r in (g, f, d):
                if r is not None:
                    rows.append(
                        [
                            r.label,
                            *(_f(r.ms(k, q), 2) for k in ("total", "ttfb") for q in ("p50", "p99")),
                        ]
                    )
            for r, what in (
                (g, f"**added by the gateway** ({model})"),
                (f, "added by the bare pass-through"),
            ):
                if r is not None:
                    bold = "**" if r is g else ""
                    rows.append(
                        [
                            what,
                            *(
                                f"{bold}{_f(r.ms(k, q) - d.ms(k, q), 2)}{bold}"
                                for k in ("total", "ttfb")
                                for q in ("p50", "p99")
                            ),
                        ]
                    )
        return [
            "## Added latency at concurrency 10",
            "",
            "Ten connections sending 100 requests/s in total, well below saturation, so the "
            "differences are the work done per request, not queueing. Milliseconds; TTFB is the "
            "time to the first byte of the first event that carries text.",
            "",
            *self._rounds_note("total p50"),
            *_table(["path", "total p50", "total p99", "TTFB p50", "TTFB p99"], rows),
        ]

    def _cpu(self) -> list[str]:
        rows = []
        for section, label, c, what in (
            ("throughput", "chat body", 50, "unpaced upstream"),
            ("paced", "chat body", 50, "one event per 5 ms"),
        ):
            r = next(
                (x for x in self.runs.get(section, []) if label in x.label and x.concurrency == c),
                None,
            )
            if r:
                rows.append(
                    [
                        f"chat body, stream, c={c}, {what}",
                        _f(r.rps),
                        _f(r.gateway_ms, 3),
                        _f(r.gateway_us_per_chunk, 1),
                    ]
                )
        r = self.find("anthropic", "chat body")
        if r:
            rows.append(
                [
                    "chat body -> Anthropic-shaped, stream, c=20",
                    _f(r.rps),
                    _f(r.gateway_ms, 3),
                    _f(r.gateway_us_per_chunk, 1),
                ]
            )
        return [
            "## Gateway CPU per request and per streamed chunk",
            "",
            "CPU time (user + system, /proc/<pid>/stat) of the gateway process during the "
            "measured phase, divided by the requests completed and by their content events.",
            "",
            *_table(["load", "req/s", "ms CPU / request", "µs CPU / chunk"], rows),
        ]

    def _memory(self) -> list[str]:
        rows = []
        for m in self.memory:
            if "idle" in m:
                rows.append(
                    [
                        m["label"],
                        "-",
                        _f(m["idle"]["VmRSS"] / 1024, 1),
                        _f(m["idle"]["VmHWM"] / 1024, 1),
                        "-",
                    ]
                )
            elif "skipped" in m:
                rows.append([m["label"], "skipped", m["skipped"], "", ""])
            else:
                failed = f" ({sum(m['failed'].values())} failed)" if m["failed"] else ""
                rows.append(
                    [
                        m["label"],
                        f"{m['open']}{failed}",
                        _f(m["memory"]["VmRSS"] / 1024, 1),
                        _f(m["memory"]["VmHWM"] / 1024, 1),
                        _f(_per_stream(m), 1),
                    ]
                )
        if not rows:
            return []
        return [
            "## Memory",
            "",
            "Resident set (VmRSS / VmHWM from /proc/<pid>/status) of a fresh gateway process for "
            "each row, idle after a few requests, then holding streams open against an upstream "
            "that sends one event every 20 s. KiB per stream = (RSS with the streams open - that "
            f"process's idle RSS) / streams. Open-file limit: {self.fd_limit}.",
            "",
            *_table(["state", "streams open", "VmRSS MiB", "VmHWM MiB", "KiB per stream"], rows),
        ]

    def _tls(self) -> list[str]:
        r = self.find("tls", "GET /health")
        if not r:
            return []
        return [
            "## TLS handshakes",
            "",
            *_table(
                ["load", "handshakes/s", "gateway CPU ms / handshake", "cores: gateway / loadgen"],
                [
                    [
                        f"GET /health, new connection each, c={r.concurrency}",
                        _f(r.rps),
                        _f(r.gateway_ms, 3),
                        f"{_f(r.cores('gateway'), 2)} / {_f(r.cores('loadgen'), 2)}",
                    ]
                ],
            ),
        ]

    def _workers(self) -> list[str]:
        one, two = self.find("workers", "1 worker"), self.find("workers", "2 workers")
        if not one or not two:
            return []
        rows = [
            [
                r.label.split(":")[0],
                _f(r.rps),
                f"{r.rps / one.rps:.2f}x",
                _f(r.gateway_ms, 3),
                " / ".join(_f(r.cores(k), 2) for k in PROCS),
                _f(sum(r.cores(k) for k in PROCS), 2),
            ]
            for r in (one, two)
        ]
        cores = os.cpu_count() or 0
        gain = two.rps / one.rps
        bound = _workers_bound(one, two, cores) + _workers_ceiling(two, cores)
        return [
            "## Workers (`--workers`), Anthropic-shaped streams at c=50",
            "",
            f"Two workers serve **{gain:.2f}x** the requests of one. {bound} Each worker is a "
            "process of its own on the same port (SO_REUSEPORT); the supervisor's CPU is "
            "counted in the gateway's.",
            "",
            *_table(WORKER_HEAD, rows),
        ]

    def _loops(self) -> list[str]:
        if self.loops_note:
            return ["## uvloop on and off", "", self.loops_note]
        off = self.runs.get("noloop", [])
        if len(off) < 3:
            return []
        on_a, on_s = self.find("anthropic", "chat body"), self.find("throughput", "chat body", 50)
        on_l = self.find("latency", "chat body -> gpt-bench")
        rows = []
        for name, on, o in (
            ("Anthropic stream c=20, req/s", on_a, off[0]),
            ("chat stream c=50, req/s", on_s, off[1]),
        ):
            rows.append([name, _f(on.rps) if on else "-", _f(o.rps)])
            rows.append(
                [
                    "  gateway ms CPU / request",
                    _f(on.gateway_ms, 3) if on else "-",
                    _f(o.gateway_ms, 3),
                ]
            )
        for q in ("p50", "p99"):
            rows.append(
                [
                    f"latency c=10 total {q}, ms",
                    _f(on_l.ms("total", q), 2) if on_l else "-",
                    _f(off[2].ms("total", q), 2),
                ]
            )
        return [
            "## uvloop on and off",
            "",
            f"Main runs used: {self.loop}; the asyncio column is a second gateway started with "
            "`--no-uvloop`, measured after the main runs (machine noise included: compare the CPU "
            "per request more than the rates).",
            "",
            *_table(["load", "main runs", "asyncio (--no-uvloop)"], rows),
        ]

    def _where(self) -> list[str]:
        rows = []
        for section in ("throughput", "anthropic", "paced", "latency", "tls", "noloop"):
            for r in self.runs.get(section, []):
                rows.append(
                    [
                        section,
                        r.label,
                        str(r.concurrency),
                        _f(r.rps),
                        str(r.errors),
                        _f(r.ms("total", "p50"), 2),
                        _f(r.ms("total", "p99"), 2),
                        _f(r.gateway_ms, 3) if "gateway" in r.cpu else "-",
                        *(_f(r.cores(k), 2) for k in PROCS),
                    ]
                )
        return [
            "## Every run, and where the CPU went",
            "",
            "The three processes share the machine's cores. 'cores' is CPU seconds per second "
            "of the measured phase; when they add up to the core count, the machine, not one "
            "process, is the limit.",
            "",
            *_table(
                [
                    "section",
                    "request",
                    "c",
                    "req/s",
                    "errors",
                    "p50 ms",
                    "p99 ms",
                    "gateway ms CPU/req",
                    *(f"cores {k}" for k in PROCS),
                ],
                rows,
            ),
        ]

    def _profile(self) -> list[str]:
        if self.profile_note:
            return ["## Where the gateway's CPU goes", "", self.profile_note]
        if not self.profile:
            return []
        samples, layers, functions = self.profile
        return [
            "## Where the gateway's CPU goes",
            "",
            f"{samples} py-spy samples of the gateway during one more Anthropic-shaped stream load "
            "at c=20, by the innermost Python frame, time waiting in epoll left out. Work done in "
            "C counts to the Python function that called it: under uvloop "
            "`StreamWriter._writelines` is mostly TLS encryption and the socket send, and "
            "`Runner.run` is uvloop's loop reading sockets.",
            "",
            *_table(["layer", "share"], [[k, f"{v:.0%}"] for k, v in layers]),
            "",
            *_table(
                ["function (self time)", "share"], [[f"`{k}`", f"{v:.1%}"] for k, v in functions]
            ),
        ]

    def _key_pair(self, section: str) -> tuple[Run | None, Run | None]:
        runs = self.runs.get(section, [])
        master = next((r for r in runs if "[virtual keys]" not in r.label), None)
        keyed = next((r for r in runs if "[virtual keys]" in r.label), None)
        return master, keyed

    def _keys(self) -> list[str]:
        cm, ck = self._key_pair("keys_cpu")
        lm, lk = self._key_pair("keys_latency")
        if not (cm and ck and lm and lk):
            return []
        rows = []
        for what, cpu, lat in (("master key", cm, lm), ("virtual keys", ck, lk)):
            rows.append(
                [
                    what,
                    _f(cpu.rps),
                    _f(cpu.gateway_ms, 3),
                    _f(lat.ms("total", "p50"), 2),
                    _f(lat.ms("total", "p99"), 2),
                    _f(lat.ms("ttfb", "p50"), 2),
                ]
            )
        rows.append(
            [
                "**virtual keys minus master key**",
                f"{ck.rps / cm.rps - 1:+.1%}" if cm.rps else "-",
                f"**{ck.gateway_ms - cm.gateway_ms:+.3f} ({ck.gateway_ms / cm.gateway_ms - 1:+.1%})**",
                f"**{lk.ms('total', 'p50') - lm.ms('total', 'p50'):+.2f}**",
                f"{lk.ms('total', 'p99') - lm.ms('total', 'p99'):+.2f}",
                f"{lk.ms('ttfb', 'p50') - lm.ms('ttfb', 'p50'):+.2f}",
            ]
        )
        return [
            "## Virtual keys, budgets and spend rows",
            "",
            f"The same requests with the master key, and with one of {self.keys_count} virtual "
            "keys each (taken in turn), every key with a budget (reserved at admission, settled "
            "at the end) and rpm/tpm/parallel limits; a spend row per request either way, "
            "written to SQLite in batches. Both in the same run, taking turns. CPU: the "
            "Anthropic-shaped stream load at c=20; latency: the chat stream at c=10, 100 "
            "requests/s.",
            "",
            *self._rounds_note("CPU per request (c=20) and total p50 (c=10)"),
            *_table(
                [
                    "key",
                    "req/s (c=20)",
                    "CPU ms/req (c=20)",
                    "total p50 ms",
                    "total p99 ms",
                    "TTFB p50 ms",
                ],
                rows,
            ),
        ]

    def _machine(self) -> list[str]:
        return ["## Machine", "", *machine.describe()]

    def _targets(self) -> list[str]:
        rows = []
        g, d = self.find("anthropic", "chat body"), self.find("anthropic", "direct")
        f = self.find("anthropic", "bare aiohttp")
        if g and d and d.rps:
            ratio = g.rps / d.rps
            floor = f"{f.rps / d.rps:.0%}" if f else "-"
            rows.append(
                ["Anthropic stream c=20 ≥ 50% of direct", f"{ratio:.0%}", _ok(ratio >= 0.5), floor]
            )
        for model, direct in (("gpt-bench", "openai_chat"), ("claude-bench", "anthropic")):
            lg = self.find("latency", f"chat body -> {model}")
            ld = self.find("latency", f"direct {direct}")
            lf = self.find("latency", f"bare aiohttp pass-through -> {model}")
            if not lg or not ld:
                continue
            for k, q, limit in (("total", "p50", 1.0), ("total", "p99", 5.0), ("ttfb", "p50", 1.0)):
                added = lg.ms(k, q) - ld.ms(k, q)
                floor = f"{lf.ms(k, q) - ld.ms(k, q):.2f} ms" if lf else "-"
                rows.append(
                    [
                        f"added {k} {q} at c=10 ≤ {limit:g} ms ({model})",
                        f"{added:.2f} ms",
                        _ok(added <= limit),
                        floor,
                    ]
                )
        floor_stream = next((_per_stream(m) for m in self.memory if m.get("floor")), None)
        for m in self.memory:
            if "idle" in m and m["label"].startswith("idle, HTTPS"):
                idle = m["idle"]["VmRSS"]
                rows.append(
                    ["idle RSS < 80 MB", f"{idle / 1024:.1f} MiB", _ok(idle * 1024 < 80e6), "-"]
                )
            elif (
                m.get("open")
                and "short" in m["label"]
                and "HTTPS" in m["label"]
                and not m.get("floor")
            ):
                per = _per_stream(m)
                n = m["label"].split()[0]
                rows.append(
                    [
                        f"< 40 KB per open idle stream ({n}, HTTPS)",
                        f"{per:.1f} KiB",
                        _ok(per * 1024 < 40e3),
                        f"{floor_stream:.1f} KiB" if floor_stream is not None else "-",
                    ]
                )
        cm, ck = self._key_pair("keys_cpu")
        lm, lk = self._key_pair("keys_latency")
        if cm and ck and cm.gateway_ms:
            more = ck.gateway_ms / cm.gateway_ms - 1
            rows.append(
                [
                    "virtual keys: CPU per streamed request within 10% of the master key's",
                    f"{more:+.1%}",
                    _ok(more <= 0.10),
                    "-",
                ]
            )
        if lm and lk:
            added = lk.ms("total", "p50") - lm.ms("total", "p50")
            rows.append(
                [
                    "virtual keys: added p50 over the master key ≤ 0.2 ms",
                    f"{added:+.2f} ms",
                    _ok(added <= 0.2),
                    "-",
                ]
            )
        keyed = next(
            (m for m in self.memory if "virtual keys" in m["label"] and m.get("open")), None
        )
        plain = next(
            (
                m
                for m in self.memory
                if m.get("open")
                and m["label"].split()[0] == (keyed or {}).get("label", "").split(" ")[0]
                and m["label"].endswith("short chat request, HTTPS")
            ),
            None,
        )
        if keyed and plain:
            more_kib = _per_stream(keyed) - _per_stream(plain)
            rows.append(
                [
                    "virtual keys: memory per open stream not above the master key's (±2 KiB)",
                    f"{more_kib:+.1f} KiB",
                    _ok(more_kib <= 2.0),
                    "-",
                ]
            )
        return [
            "## Targets (issue 5)",
            "",
            "The last column is the same figure for a bare aiohttp pass-through "
            "(`benchmarks/null_proxy.py`), HTTPS in and plain HTTP out with nothing done to the "
            "bytes: the floor under any gateway built on aiohttp and Python's `ssl`.",
            "",
            *_table(["target", "measured", "met", "bare aiohttp pass-through"], rows),
        ]


def _per_stream(m: dict[str, Any]) -> float:
    """KiB of resident memory per open stream over the idle gateway's."""
    return (m["memory"]["VmRSS"] - m["baseline"]) / m["open"] if m.get("open") else float("nan")


def _ok(met: bool) -> str:
    return "yes" if met else "**no**"
