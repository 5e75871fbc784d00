"""`om node events` / `om daemon events` / `ox node events`: print, format and wait on events.

The command validates filters and the template before connecting (usage errors exit 2),
streams from the API (or reads `--input`), renders each event, and for `--wait` evaluates
the template on every event until it calls `setSuccess true`. A broken stream is resumed
with Last-Event-ID: no loss, no duplicate; a server stop and a gap are reported on stderr (a
replay is announced only when the server sends one). What is retried: docs/cli.md, "Retries". See docs/cli.md for the differences with upstream.
"""

from __future__ import annotations

import fnmatch
import io
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import click

from .client import ClientError, Endpoint, Envelope, EventStream

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

FILTER_HELP = """\b
FILTERS
  A filter is <element>[,<element>...]; --filter is repeatable and filters are ORed.
  <element> is one of:
    <Kind>              keep events of this kind (see the kinds below)
    <key>=<value>       keep events labeled so (value may be a glob: path=foo*)
    <key>!=<value>      drop events labeled so
    .<path><op><value>  a data assertion, <path> relative to the event data:
                        .instance_status.avail="up"   .node_stats.mem_avail<20
                        .instance_status.resources."fs#1".status="up"
                        <op> is = != > < >= <=; strings in double quotes (a bare
                        word is a string too), numbers and true/false bare.
  Several kinds in one filter share its labels and data assertions.

\b
EXAMPLES
  om node events --filter InstanceStatusUpdated,path=svc1,node=n1
  om node events --filter 'InstanceStatusUpdated,path=svc1,.instance_status.avail="up"'
  om node events --filter NodeStatsUpdated -o json | jq .data.node_stats

\b
TEMPLATES (Go text/template, plus these functions)
  hasNodeLabel .data.labels "n1" "n2"      hasPathLabel .data.labels "foo"
  hasInstanceLabel .data.labels "foo@n1"   toInst .data.path .data.node
  passSet <s> <bool>  passAdd <s>  passDel <s>  passCount  setSuccess <bool>
  stringsContains  stringsHasPrefix  stringsHasSuffix  keys
  The template sees {kind, id, at, data}; it prints nothing unless it says so.

\b
  om node events --filter InstanceMonitorUpdated --template \\
    '{{printf "instance %s@%s monitor state is %s\\n" .data.path .data.node .data.instance_monitor.state}}'

\b
WAIT (exit 0 once the template calls setSuccess true; replay is implied)
  om node events --wait --duration 1m --filter ObjectStatusUpdated,path=foo --template \\
    '{{if setSuccess (and (eq .data.object_status.avail "up") (eq .data.object_status.provisioned "true"))}}{{end}}'
  om node events --wait --filter NodeStatusUpdated --template \\
    '{{if setSuccess (ne .data.node_status.frozen_at "0001-01-01T00:00:00Z")}}{{end}}'
  om node events --wait --filter ClusterStatusUpdated --template \\
    '{{if setSuccess .data.cluster_status.is_frozen}}{{end}}'
  om node events --wait --filter ObjectStatusUpdated --template \\
    '{{if passSet .data.path (eq .data.object_status.avail "up")}}{{end}}{{if setSuccess (eq passCount 3)}}{{end}}'
"""


class EventsCommand(click.Command):
    """The events command: its help ends with the list of kinds (imported only for --help)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        import textwrap

        width = (formatter.width or 80) - 4
        formatter.write_paragraph()
        formatter.write_text("\b\nKINDS (the <Kind> of a filter)\n"
                             + "\n".join(textwrap.wrap("  ".join(sorted(_kind_names())), width)))


class OutputFormat(click.ParamType):
    """-o: upstream's formats, `tab=` and `template=` with their argument."""

    name = "format"
    NAMES = ("auto", "human", "json", "jsonline", "flat", "yaml", "diff")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if text in self.NAMES or text.startswith("template="):
            return text
        if text.startswith("tab="):
            from .output import parse_tab

            try:
                parse_tab(text[4:])
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
            return text
        self.fail(f"{text!r} is not one of {', '.join(self.NAMES)}, tab=HEADER:.path,..., template=TEXT",
                  param, ctx)


def _kind_names() -> tuple[str, ...]:
    from omd.model.events import KIND_NAMES

    return KIND_NAMES


def _install_bash_completion() -> None:
    """Bash splits words at `=` (COMP_WORDBREAKS), so `--filter path=svc1,InstanceSt<TAB>`
    reaches click as `path`, `=`, `svc1,InstanceSt` and nothing completes. Join the words
    around `=` again, complete, and hand bash back the part after its own word start."""
    import os

    from click.shell_completion import BashComplete, add_completion_class, split_arg_string

    class JoiningBashComplete(BashComplete):
        cut = ""

        def get_completion_args(self) -> tuple[list[str], str]:
            words = split_arg_string(os.environ["COMP_WORDS"])
            cword = int(os.environ["COMP_CWORD"])
            words = words[: cword + 1] + ([""] if cword >= len(words) else [])
            joined: list[str] = []
            cut = ""
            for i, word in enumerate(words):
                glue = word == "=" or (joined and joined[-1].endswith("=") and i > 0 and words[i - 1] == "=")
                if glue and joined:
                    joined[-1] += word
                else:
                    joined.append(word)
            current = words[-1]
            if joined[-1] != current:  # bash completes `current`: give back only what follows it
                cut = joined[-1][: len(joined[-1]) - len(current)] if current != "=" else joined[-1]
            self.cut = cut
            return joined[1:-1], joined[-1]

        def format_completion(self, item: Any) -> str:
            value = item.value
            if self.cut and isinstance(value, str) and value.startswith(self.cut):
                value = value[len(self.cut):]
            return f"{item.type},{value}"

    add_completion_class(JoiningBashComplete, "bash")


def complete_filter(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of --filter: kind names for the element being typed."""
    head, _, last = incomplete.rpartition(",")
    prefix = head + "," if head else ""
    return [prefix + k for k in _kind_names() if k.startswith(last)]


@dataclass
class Options:
    """What the events command was asked to do."""

    filters: tuple[str, ...] = ()
    template: str | None = None
    wait: bool = False
    duration: float = 0.0
    limit: int = 0
    replay: bool = False
    output: str = "auto"
    color: str = "auto"
    node: str | None = None
    selector: tuple[str, ...] = ()
    input: str | None = None
    retry_timeout: float = 60.0
    duration_text: str = ""


@dataclass
class Runner:
    """Runs one events command; `run()` returns the exit code."""

    opts: Options
    endpoint_factory: Callable[[], Endpoint] | None
    out: Any = field(default_factory=lambda: sys.stdout.buffer)
    err: Any = field(default_factory=lambda: sys.stderr)
    matcher: Any = None
    template: Any = None
    state: Any = None
    printed: int = 0
    last_id: int | None = None
    started: float = field(default_factory=time.monotonic)

    # ---------------------------------------------------------------- validation

    def prepare(self) -> None:
        """Parse filters and template; raise click.UsageError pointing at the mistake."""
        from omd.errors import OmdError

        opts = self.opts
        if opts.wait and not opts.template:
            raise click.BadParameter("--wait needs a --template that calls setSuccess", param_hint="--wait")
        try:
            from omd import filters

            self.spec = filters.parse(list(opts.filters))
            if opts.input is not None:
                self.matcher = filters.compile(self.spec)
        except OmdError as exc:
            raise click.BadParameter(str(exc), param_hint="--filter") from None
        if opts.template is not None:
            from omd.gotemplate import Template, TemplateParseError, WaitState

            try:
                self.template = Template.parse(opts.template, "template")
            except TemplateParseError as exc:
                raise click.BadParameter(f"parse template error: {exc}", param_hint="--template") from None
            self.state = WaitState()
        for warning in field_warnings(self.spec, self.template):
            self.err.write(f"warning: {warning}\n")

    # ---------------------------------------------------------------- running

    def run(self) -> int:
        """Stream (or read --input) until done; the exit code."""
        opts = self.opts
        # NO_COLOR (no-color.org): set and not empty, auto means no colour even on a terminal.
        color = opts.color == "yes" or (opts.color == "auto" and _isatty(self.out)
                                        and not os.environ.get("NO_COLOR"))
        fmt = opts.output
        if fmt == "auto":
            fmt = "human" if _isatty(self.out) else "json"
        from .output import renderer

        self.render = renderer(fmt, color)
        self.deadline = self.started + opts.duration if opts.duration else None
        source = self._read_input() if opts.input is not None else self._stream()
        for env in source:
            code = self.handle(env)
            if code is not None:
                self._flush()
                return code
        self._flush()
        return self.finish(ended_by="duration" if self.deadline and time.monotonic() >= self.deadline - 0.05 else "end")

    def handle(self, env: Envelope) -> int | None:
        """Process one event; an exit code when the command is done."""
        if env.kind == "SubscriptionError" and env.id is None:
            # Only a resume the journal could not serve is followed by the current state (the
            # server's text says so); other gaps end the stream and the CLI resumes.
            text = _error_text(env.data)
            if b'"gap_resume_from"' in env.data and "state follows" not in text:
                text += "; the current state follows"
            self.err.write(f"gap: {text}\n")
            return None
        if self.template is not None:
            from omd.gotemplate import TemplateExecError, decode_json

            try:
                data = decode_json(env.data)
                text = self.template.render({"kind": env.kind, "id": float(env.id) if env.id is not None else None,
                                             "at": env.at, "data": data}, self.state)
            except TemplateExecError as exc:
                self.err.write(f"template execute error: {exc}\n")
                text = ""
            except ValueError as exc:
                self.err.write(f"event {env.id}: invalid JSON data: {exc}\n")
                text = ""
            if text:
                # Go slices strings by bytes: a slice may cut a UTF-8 sequence, and the template
                # engine keeps such bytes as surrogate escapes. Write the bytes, as Go does.
                self.out.write(text.encode("utf-8", "surrogateescape"))
                self._flush()
            self.printed += 1
            if self.opts.wait and self.state.success:
                passed = self.state.passed_list()
                extra = f" passed [{' '.join(passed)}]" if passed else ""
                self.err.write(f"wait succeed elapsed {self._elapsed()}{extra}\n")
                return EXIT_OK
        else:
            self.out.write(self.render(env))
            self.printed += 1
            if self.live:
                self._flush()
        if self.opts.limit and self.printed >= self.opts.limit:
            return self.finish(ended_by="limit")
        return None

    def finish(self, ended_by: str) -> int:
        """The exit code when the stream ended without a wait success."""
        if not self.opts.wait:
            return EXIT_OK
        reason = {"limit": "event count limit", "duration": "context deadline exceeded"}.get(ended_by, "stream ended")
        self.err.write(f"wait failed after {self._elapsed()} ({reason})\n")
        return EXIT_FAIL

    def _elapsed(self) -> str:
        from omd.durations import format_go

        return format_go(round(time.monotonic() - self.started, 3))

    def _flush(self) -> None:
        try:
            self.out.flush()
        except (BrokenPipeError, ValueError):
            raise SystemExit(EXIT_OK) from None

    # ---------------------------------------------------------------- sources

    live = True

    def _read_input(self) -> Iterator[Envelope]:
        """Events from a file of jsonlines (`-` is stdin), filtered here as the server would."""
        import msgspec

        from omd.model.wire import encode_topic

        self.live = False
        stream: Iterable[bytes]
        if self.opts.input == "-":
            stream = sys.stdin.buffer
        else:
            try:
                stream = open(self.opts.input, "rb")
            except OSError as exc:
                raise click.BadParameter(f"cannot read {self.opts.input}: {exc.strerror}", param_hint="--input") from None
        encode = msgspec.json.encode
        decode = msgspec.json.decode
        for lineno, line in enumerate(stream, 1):
            if self.deadline and time.monotonic() >= self.deadline:
                return
            if not line.strip():
                continue
            try:
                obj = decode(line)
                kind, data = obj["kind"], obj.get("data") or {}
                labels = data.get("labels") or {}
                if not isinstance(kind, str) or not isinstance(data, dict) or not isinstance(labels, dict):
                    raise TypeError
            except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
                self.err.write(f"{self.opts.input}:{lineno}: not an event envelope {{kind,id,at,data}}: skipped\n")
                continue
            raw = encode(data)
            topic = encode_topic(kind, {str(k): str(v) for k, v in labels.items()})
            if not self.matcher.match(topic, raw):
                continue
            if not self._selected(labels.get("path")):
                continue
            eid = obj.get("id")
            yield Envelope(kind, eid if isinstance(eid, int) else None, str(obj.get("at") or ""), raw)

    def _selected(self, path: Any) -> bool:
        patterns = [p for s in self.opts.selector for p in s.split(",") if p]
        return not patterns or path is None or any(fnmatch.fnmatchcase(str(path), p) for p in patterns)

    def _params(self, first: bool) -> list[tuple[str, str]]:
        opts = self.opts
        params = [("filter", f) for f in opts.filters]
        if (opts.replay or opts.wait) and first:
            params.append(("replay", "true"))
        if opts.limit and not opts.template:
            params.append(("limit", str(opts.limit - self.printed)))
        if self.deadline:
            params.append(("duration", f"{max(0.001, self.deadline - time.monotonic()):.3f}"))
        params += [("selector", s) for s in opts.selector]
        return params

    def _stream(self) -> Iterator[Envelope]:
        """Live events, reconnecting and resuming with Last-Event-ID when the stream breaks."""
        assert self.endpoint_factory is not None
        endpoint = self.endpoint_factory()
        first = True
        broken_since: float | None = None
        delay = 0.1
        while True:
            if self.deadline and time.monotonic() >= self.deadline:
                return
            try:
                left = self.deadline - time.monotonic() if self.deadline else None
                # A far deadline (up to 292y) overflows a socket timeout: the server ends it anyway.
                timeout = None if left is None or left > 86400 else max(0.1, left) + 5
                stream = EventStream(endpoint, self._params(first), self.last_id, timeout)
            except ClientError as exc:
                if not exc.retryable:
                    raise click.ClickException(str(exc)) from None  # a refusal or a fault no retry heals
                broken_since = self._retry_wait(broken_since, exc, delay)
                delay = min(delay * 2, 2.0)
                continue
            if broken_since is not None:
                self.err.write(f"reconnected to {endpoint.describe()}\n")
                broken_since, delay = None, 0.1
            first = False
            try:
                for env in stream:
                    if env.id is not None:
                        self.last_id = env.id
                    yield env
                ended_cleanly = True
            except ClientError as exc:
                ended_cleanly = False
                error: Exception = exc
            except TimeoutError:
                stream.close()
                return
            finally:
                stream.close()
            if ended_cleanly:
                # The server ends a stream at its limit or duration; anything else is an outage.
                if self.deadline and time.monotonic() >= self.deadline - 0.5:
                    return
                if self.opts.limit and self.printed >= self.opts.limit:
                    return
                error = ClientError("the server closed the stream")
                if stream.stopped is not None:
                    error = ClientError(f"the server stopped ({stream.stopped})")
            broken_since = self._retry_wait(broken_since, error, delay,
                                            "ended" if ended_cleanly and stream.stopped is not None else "broken")

    def _retry_wait(self, since: float | None, error: Exception, delay: float, how: str = "broken") -> float:
        now = time.monotonic()
        if not self.opts.retry_timeout:
            raise click.ClickException(f"event read error: {error} (--retry-timeout 0: no retry)")
        if since is None:
            since = now
            self.err.write(f"event stream {how}: {error}; reconnecting (ctrl+c to interrupt)\n")
        if now - since >= self.opts.retry_timeout:
            from omd.durations import format_go

            raise click.ClickException(f"event read error: gave up after {format_go(round(now - since, 1))}: {error}")
        time.sleep(delay)
        return since


def _isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False


def _error_text(data: bytes) -> str:
    import json

    try:
        return str(json.loads(data).get("error", ""))
    except ValueError:
        return data.decode(errors="replace")


def field_warnings(spec: Any, template: Any) -> list[str]:
    """Warnings for `.data` fields that the filtered kinds do not have (with the closest names).

    Checked: the first field of each data assertion against its filter's kinds, and the first
    `.data` field the template reads against every filtered kind.
    """
    warnings = []
    for f in getattr(spec, "filters", ()):
        for assertion in f.data:
            head = assertion.path[0] if assertion.path else None
            name = getattr(head, "name", head)
            if f.kinds and isinstance(name, str):
                warning = _missing_field(name, f.kinds, f"the filter {f.text!r} tests .{name}")
                if warning:
                    warnings.append(warning)
    kinds = sorted(spec.kinds) if getattr(spec, "kinds", None) else []
    if kinds and template is not None:
        for path in template.field_paths():
            warning = _missing_field(path[1], kinds, f"the template reads .{'.'.join(path)}")
            if warning:
                warnings.append(warning)
    return warnings


def _missing_field(name: str, kinds: Iterable[str], what: str) -> str | None:
    import difflib

    from omd.model.events import KINDS

    kinds = sorted(kinds)
    if name == "labels" or any(name in KINDS[k].type.__struct_encode_fields__ for k in kinds):
        return None
    fields = sorted({f for k in kinds for f in KINDS[k].type.__struct_encode_fields__})
    close = difflib.get_close_matches(name, fields, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else f" (fields: {', '.join(fields)})"
    return f"{what} but {', '.join(kinds)} {'has' if len(kinds) == 1 else 'have'} no field {name!r}{hint}"


def events_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options of every events command (upstream's flag names)."""
    decorators = [
        click.option("--filter", "filters", multiple=True, metavar="EXPR", shell_complete=complete_filter,
                     help="Keep events matching EXPR (repeatable, ORed). See FILTERS below."),
        click.option("--template", metavar="TEXT", help="Render each event with this Go template."),
        click.option("--wait", is_flag=True, help="Exit 0 once the template calls setSuccess true (implies --replay)."),
        click.option("--duration", metavar="D", help="Stop after D (seconds or Go duration: 30, 1m30s)."),
        click.option("--limit", type=click.IntRange(min=0), default=0, help="Stop after N events (0: no limit); with --template every event it evaluates counts, printed or not."),
        click.option("--replay", is_flag=True, help="Send the current state first (labels from=cache)."),
        click.option("-o", "--output", "--format", "output", type=OutputFormat(), metavar="FORMAT",
                     default="auto", show_default=True,
                     help="json/jsonline: one {kind,id,at,data} per line; human: readable; flat: key = value; "
                          "yaml: a document per event; diff: what changed per object; "
                          "tab=HEADER:.path,...: a column per path; template=TEXT: as --template; "
                          "auto: human on a terminal, json otherwise."),
        click.option("--color", type=click.Choice(["auto", "yes", "no"]), default="auto", show_default=True),
        click.option("--node", metavar="SELECTOR", help="Nodes to stream from (names, globs, comma lists)."),
        click.option("-s", "--selector", "--service", "selector", multiple=True, metavar="GLOB",
                     help="Keep events of objects whose path matches GLOB."),
        click.option("--input", "input_", metavar="FILE",
                     help="Read events from FILE (jsonlines as -o json writes them; - is stdin) "
                          "instead of the daemon."),
        click.option("--retry-timeout", default="60", show_default=True, metavar="D",
                     help="Give up reconnecting a broken stream after D (exit 1); 0: no retry. "
                          "Errors no retry heals (TLS, stale api.sock, 4xx) exit at once."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def build_options(**kw: Any) -> Options:
    """Options from click's keyword arguments; bad durations are usage errors."""
    from omd.durations import parse

    def dur(name: str, value: str | None) -> float:
        if not value:
            return 0.0
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=f"--{name}") from None

    template, output = kw["template"], kw["output"]
    if output.startswith("template="):
        if template is not None:
            raise click.BadParameter("give the template once: --template or -o template=", param_hint="--template")
        template, output = output[len("template="):], "auto"
    return Options(filters=kw["filters"], template=template, wait=kw["wait"],
                   duration=dur("duration", kw["duration"]), limit=kw["limit"], replay=kw["replay"],
                   output=output, color=kw["color"], node=kw["node"], selector=kw["selector"],
                   input=kw["input_"], retry_timeout=dur("retry-timeout", kw["retry_timeout"]),
                   duration_text=kw["duration"] or "")


def run_events(opts: Options, endpoint_factory: Callable[[], Endpoint] | None, local_node: str | None) -> None:
    """Validate, run and exit with the command's code (130 on ctrl-c, quietly)."""
    if opts.node and local_node is not None and opts.input is None:
        wanted = [p for p in opts.node.split(",") if p]
        if not any(p in ("localhost", local_node) or fnmatch.fnmatchcase(local_node, p) for p in wanted):
            raise click.BadParameter(
                f"--node {opts.node}: only this node ({local_node}) can be streamed until peers are "
                "reachable through the heartbeats", param_hint="--node")
    runner = Runner(opts, endpoint_factory)
    runner.prepare()
    try:
        code = runner.run()
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        code = EXIT_OK
    sys.exit(code)
